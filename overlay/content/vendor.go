package content

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// MirrorError is why one vendor URL did not deliver the artifact.
type MirrorError struct {
	URL string
	// Err matches errors.Is(Err, trust.ErrUntrusted) when the mirror sent
	// bytes that failed verification (wrong digest or size, endless data),
	// as opposed to being unreachable or breaking off.
	Err error
}

// Error names the mirror and its failure.
func (e MirrorError) Error() string { return fmt.Sprintf("mirror %s: %v", e.URL, e.Err) }

// Unwrap returns the mirror's failure, so errors.Is sees through it.
func (e MirrorError) Unwrap() error { return e.Err }

// fromVendors tries each vendor URL in turn until one delivers the rest of
// the artifact. Each mirror's bytes are staged and verified on their own
// before any reaches w, so a bad mirror costs a try of the next one and its
// bytes never mix with another's. complete reports that every block was
// kept as well.
func (f *fetch) fromVendors(ctx context.Context) (complete bool, err error) {
	if len(f.want.VendorURLs) == 0 {
		return false, ErrNoSource
	}
	st, err := newStage(f.s.stagingDir())
	if err != nil {
		return false, err
	}
	defer st.remove()
	for _, u := range f.want.VendorURLs {
		if err := st.reset(f.out.h); err != nil {
			return false, err
		}
		err := f.fromMirror(ctx, st, u)
		if err == nil {
			return f.commit(ctx, st)
		}
		if ctx.Err() != nil {
			return false, fmt.Errorf("fetching from mirror %s: %w", u, ctx.Err())
		}
		bad := MirrorError{URL: u, Err: err}
		f.res.BadMirrors = append(f.res.BadMirrors, bad)
		f.res.Failures = append(f.res.Failures, bad)
	}
	return false, ErrNoSource
}

// fromMirror stages the rest of the artifact (from f.out.n on) from one
// mirror and verifies it. A transfer that breaks off after making progress
// is resumed from the same mirror, at most MirrorResumes times; one that
// fails verification is not.
func (f *fetch) fromMirror(ctx context.Context, st *stage, url string) error {
	want := updates.Want{Size: f.want.Size, SHA256: f.want.SHA256}
	for try := 0; try <= MirrorResumes && f.out.n+st.n < f.want.Size; try++ {
		n, err := updates.StreamURL(ctx, url, want, f.out.n+st.n, st, f.s.vendorOpts)
		if err != nil && (n == 0 || try == MirrorResumes || errors.Is(err, trust.ErrUntrusted) || ctx.Err() != nil) {
			return vendorError(err)
		}
	}
	return st.verify(f.out.n, f.want)
}

// vendorError names endless data in this package's terms.
func vendorError(err error) error {
	if errors.Is(err, trust.ErrOversized) {
		return fmt.Errorf("%w (%w)", ErrEndlessData, err)
	}
	return err
}

// commit copies a mirror's verified bytes to the caller's writer, teeing
// them into the importer when the whole artifact passes through.
func (f *fetch) commit(ctx context.Context, st *stage) (complete bool, err error) {
	if _, err := st.file.Seek(0, io.SeekStart); err != nil {
		return false, fmt.Errorf("rewinding staged vendor bytes: %w", err)
	}
	imp := f.startImport(ctx)
	f.res.Sources = append(f.res.Sources, SourceVendor)
	buf := make([]byte, ChunkSize) // progress about once per MiB
	if _, err := io.CopyBuffer(progressWriter{f}, struct{ io.Reader }{st.file}, buf); err != nil {
		imp.abort()
		return false, fmt.Errorf("copying verified vendor bytes: %w", err)
	}
	return imp.finish(f.want.CID), nil
}

// stage holds one mirror's bytes until they are verified: a temp file, and
// the SHA-256 state of the artifact so far (what reached w, then the staged
// bytes).
type stage struct {
	file *os.File
	h    hash.Hash
	n    int64
}

func newStage(dir string) (*stage, error) {
	file, err := os.CreateTemp(dir, "vendor-*.part")
	if err != nil {
		return nil, fmt.Errorf("creating vendor staging file: %w", err)
	}
	return &stage{file: file}, nil
}

// Write appends a mirror's bytes to the stage.
func (s *stage) Write(p []byte) (int, error) {
	n, err := s.file.Write(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	return n, err
}

// reset empties the stage for the next mirror, which continues after the
// bytes prefix hashed.
func (s *stage) reset(prefix hash.Hash) error {
	h, err := cloneHash(prefix)
	if err != nil {
		return err
	}
	if err := s.file.Truncate(0); err != nil {
		return fmt.Errorf("emptying vendor staging file: %w", err)
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("emptying vendor staging file: %w", err)
	}
	s.h, s.n = h, 0
	return nil
}

// verify checks that offset bytes already written plus the staged ones are
// the announced artifact.
func (s *stage) verify(offset int64, want Want) error {
	if offset+s.n != want.Size {
		return fmt.Errorf("got %d of %d bytes: %w", offset+s.n, want.Size, ErrSizeMismatch)
	}
	var sum [sha256.Size]byte
	s.h.Sum(sum[:0])
	if sum != want.SHA256 {
		return fmt.Errorf("got SHA-256 %x, announced %x: %w", sum, want.SHA256, ErrDigestMismatch)
	}
	return nil
}

func (s *stage) remove() {
	s.file.Close()
	os.Remove(s.file.Name()) // best effort: a leftover only wastes space
}

// cloneHash copies h's state through encoding.BinaryMarshaler, which every
// standard library hash has, the frozen FIPS 140 module's too (its hashes
// lack hash.Cloner).
func cloneHash(h hash.Hash) (hash.Hash, error) {
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, errors.New("copying SHA-256 state: hash cannot be marshalled")
	}
	state, err := m.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("copying SHA-256 state: %w", err)
	}
	c := sha256.New()
	if err := c.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil, fmt.Errorf("copying SHA-256 state: %w", err)
	}
	return c, nil
}
