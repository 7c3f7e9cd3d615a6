package content

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync/atomic"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Want names the artifact to fetch, as a verified announcement gives it.
type Want struct {
	// CID is the artifact's root; cid.Undef means vendor URLs only.
	CID cid.Cid
	// Size is the announced size in bytes: every byte is counted against it.
	Size int64
	// SHA256 is the announced digest, checked over the whole artifact.
	SHA256 [sha256.Size]byte
	// VendorURLs are tried in order when peers cannot deliver.
	VendorURLs []string
	// Seeds are peers the verified announcement says hold the artifact
	// (the node passes the supernodes whose co-signatures it accepted:
	// each checked the artifact at the vendor and serves it). They are the
	// fetch's first providers, before and alongside the DHT search, and
	// are bounded like any provider (MaxSeeds of them, this node skipped).
	// They grant no trust: every block is checked against its CID and the
	// artifact against SHA256, as for a DHT record anyone may publish.
	Seeds []peer.ID
}

func (w Want) validate() error {
	switch {
	case w.Size < 0 || w.Size > MaxArtifactSize:
		return fmt.Errorf("artifact size %d outside 0..%d: %w", w.Size, int64(MaxArtifactSize), ErrOversized)
	case !w.CID.Defined() && len(w.VendorURLs) == 0:
		return fmt.Errorf("artifact has neither a content id nor a vendor URL: %w", ErrNoSource)
	case w.CID.Defined():
		if err := checkCIDShape(w.CID); err != nil {
			return fmt.Errorf("content id: %w", err)
		}
	}
	return nil
}

// Source says where an artifact's bytes came from.
type Source string

// Sources of an artifact's bytes.
const (
	SourceLocal  Source = "local" // this node's block store already held it
	SourcePeers  Source = "peers"
	SourceVendor Source = "vendor"
)

// Result describes a fetch.
type Result struct {
	// Bytes written to the caller's writer.
	Bytes int64
	// SHA256 of those bytes (equal to Want.SHA256 on success).
	SHA256 [sha256.Size]byte
	// Sources in the order they contributed bytes.
	Sources []Source
	// Providers used for the peer part, with their share and fate.
	Providers []ProviderStat
	// Provided: the artifact's blocks were kept and its root is being
	// provided (in the background; see Provider.OnError for failures):
	// at once if Searched, else within Config.ProvideSpread.
	Provided bool
	// Searched: the DHT was asked for providers — there were no seeds, or
	// they had not delivered the artifact within SeedOnlyWindow.
	Searched bool
	// BadMirrors are the vendor URLs tried that did not deliver, in order,
	// each with its reason; a mirror that sent wrong bytes has an Err
	// matching trust.ErrUntrusted. The fetch succeeds despite them when a
	// later mirror delivers.
	BadMirrors []MirrorError
	// Failures explain the sources that were tried and failed (the peers,
	// and each bad mirror again).
	Failures []error
}

// ProviderStat is one provider's part in a fetch.
type ProviderStat struct {
	Peer   peer.ID
	Bytes  int64 // leaf bytes it delivered first
	Blocks int
	Bad    bool  // it sent data failing verification (errors.Is trust.ErrUntrusted)
	Err    error // why it was dropped, nil if it served to the end
}

// Progress is reported after each write to the caller's writer.
type Progress struct {
	Done, Total int64
	Source      Source
	// PerProvider maps providers to the bytes they delivered so far.
	PerProvider map[peer.ID]int64
}

// FetchOption adjusts one Fetch.
type FetchOption func(*fetchOptions)

type fetchOptions struct {
	progress  func(Progress)
	lateSeeds <-chan peer.ID
}

// WithLateSeeds adds the peers that arrive on ch while the fetch runs as
// seeds, each as soon as a provider slot is free, under the bounds of
// Want.Seeds (MaxSeeds in all, this node and repeats skipped): an agent
// that accepted an update at k co-signatures hears the other co-signers
// after its fetch started, and each of them holds the artifact.
func WithLateSeeds(ch <-chan peer.ID) FetchOption {
	return func(o *fetchOptions) { o.lateSeeds = ch }
}

// WithProgress calls fn after each write (about once per MiB), from the
// fetching goroutine; fn must return quickly.
func WithProgress(fn func(Progress)) FetchOption {
	return func(o *fetchOptions) { o.progress = fn }
}

// Fetch writes the artifact want names to w: from want.Seeds and the
// providers the DHT knows (several at once, every block checked against
// its CID), falling back to the vendor URLs when no peer has it or the
// peers fail (resuming where the peers stopped), and using peers when the
// vendor is down. The vendor URLs are mirrors tried in order: each one's
// bytes are staged in a temp file and must bring the artifact to
// want.Size bytes with want.SHA256 before any of them reaches w, so a bad
// mirror is skipped (and listed in Result.BadMirrors) rather than spoiling
// the fetch. Every byte is counted against want.Size and the SHA-256 of
// all bytes must equal want.SHA256. On error, whatever reached w must be
// discarded.
//
// On success the blocks are kept in the Service's store and the root is
// provided, unless the operator opted out (Config.Provide false): then
// nothing fetched is kept, so nothing fetched is served either.
func (s *Service) Fetch(ctx context.Context, want Want, w io.Writer, opts ...FetchOption) (Result, error) {
	var o fetchOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := want.validate(); err != nil {
		return Result{}, fmt.Errorf("fetching artifact: %w", err)
	}
	f := &fetch{s: s, want: want, opts: o, out: &artifactWriter{w: w, size: want.Size, h: sha256.New()},
		seeds: usableSeeds(want.Seeds, s.h.ID())}
	if s.store != nil && s.cfg.Provide {
		f.kept = &recordingStore{Blockstore: s.store}
	}
	return f.run(ctx)
}

// fetch is the state of one Fetch.
type fetch struct {
	s    *Service
	want Want
	opts fetchOptions
	out  *artifactWriter
	kept *recordingStore // nil: blocks are not kept
	res  Result
	t    *transfer
	// seeds are want.Seeds as used: this node and duplicates dropped, at
	// most MaxSeeds.
	seeds []peer.ID
	// seeded is how many of seeds the transfer took before its search
	// started (addFreeSeeds); the search adds the rest.
	seeded int
	// searched: the DHT was asked for providers (the seeds alone did not
	// do within SeedOnlyWindow, or there were none).
	searched atomic.Bool
	// records counts the provider records the search received (this
	// node's own excepted): enough of them and the provide can wait.
	records atomic.Int64
}

func (f *fetch) run(ctx context.Context) (Result, error) {
	if done, err := f.fromLocal(ctx); done || err != nil {
		if err != nil {
			return f.fail(err)
		}
		return f.finish(false)
	}
	fromPeers := false
	if f.want.CID.Defined() && (f.s.router != nil || len(f.seeds) > 0) {
		err := f.fromPeers(ctx)
		if err == nil {
			fromPeers = true
		} else {
			f.res.Failures = append(f.res.Failures, fmt.Errorf("fetching from peers: %w", err))
		}
	}
	if ctx.Err() != nil {
		return f.fail(ctx.Err())
	}
	complete := fromPeers
	if !fromPeers {
		var err error
		if complete, err = f.fromVendors(ctx); err != nil {
			return f.fail(err)
		}
	}
	return f.finish(complete)
}

// fail cleans up and returns err with every source's failure attached.
func (f *fetch) fail(err error) (Result, error) {
	f.forget()
	f.res.Bytes, f.res.SHA256 = f.out.n, f.out.sum()
	name := "(no content id)"
	if f.want.CID.Defined() {
		name = f.want.CID.String()
	}
	return f.res, fmt.Errorf("fetching artifact %s: %w", name, errors.Join(append([]error{err}, f.res.Failures...)...))
}

// finish checks size and digest and provides the artifact when every block
// was kept.
func (f *fetch) finish(complete bool) (Result, error) {
	f.res.Bytes, f.res.SHA256 = f.out.n, f.out.sum()
	if f.out.n != f.want.Size {
		return f.fail(fmt.Errorf("got %d of %d bytes: %w", f.out.n, f.want.Size, ErrSizeMismatch))
	}
	if f.res.SHA256 != f.want.SHA256 {
		return f.fail(fmt.Errorf("got SHA-256 %x, announced %x: %w", f.res.SHA256, f.want.SHA256, ErrDigestMismatch))
	}
	if !complete || f.kept == nil {
		f.forget()
		return f.res, nil
	}
	f.provide()
	f.res.Provided = f.s.cfg.Provide && f.s.router != nil
	return f.res, nil
}

// provide announces the kept artifact: at once when the fetch needed the
// DHT and found fewer than ProvideRecordsEnough records there (the zone is
// short of sources; a fetch without seeds always searches); within the
// reprovide interval when it found that many (fetchers find enough
// holders without it); else, its seeds having served it without help, at
// a random point within Config.ProvideSpread, checking first how many
// holders the DHT names by then (Provider.ProvideWithin): every fetcher of
// the zone finishing about now would walk the DHT to the same peers.
func (f *fetch) provide() {
	switch {
	case f.searched.Load() && f.records.Load() < ProvideRecordsEnough:
		f.s.prov.ProvideLater(f.want.CID)
	case f.searched.Load():
		f.s.prov.ProvideEventually(f.want.CID)
	default:
		f.s.prov.ProvideWithin(f.want.CID, f.s.cfg.ProvideSpread)
	}
}

// forget deletes blocks this fetch added: they are incomplete or belong to
// an artifact that failed its digest, and must not be provided.
func (f *fetch) forget() {
	if f.kept != nil {
		f.kept.undo(context.Background())
	}
}

// report sends a progress update.
func (f *fetch) report(src Source) {
	if f.opts.progress == nil {
		return
	}
	p := Progress{Done: f.out.n, Total: f.want.Size, Source: src, PerProvider: map[peer.ID]int64{}}
	if f.t != nil {
		for _, st := range f.t.stats() {
			p.PerProvider[st.Peer] = st.Bytes
		}
	}
	f.opts.progress(p)
}

// fromPeers fetches the whole artifact from the seeds and DHT providers.
func (f *fetch) fromPeers(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var store Blockstore
	if f.kept != nil {
		store = f.kept
	}
	t := newTransfer(ctx, f.s.h, f.s.cfg.MaxProviders, f.s.cfg.StreamsPerProvider, store)
	t.seedHost = f.s.seedHost
	t.pace = f.s.cfg.pace()
	f.t = t
	f.seeded = f.addFreeSeeds(ctx, t)
	go f.search(ctx, t)
	if f.opts.lateSeeds != nil {
		go f.addLateSeeds(ctx, t)
	}
	defer func() { t.stop(errTransferDone); f.res.Providers, f.res.Searched = t.stats(), f.searched.Load() }()
	leaves, internal, err := resolveDAG(ctx, f.want.CID, f.want.Size, t.fetchNodes)
	if err != nil {
		return err
	}
	for c, d := range internal {
		if store != nil {
			if err := store.PutVerified(ctx, c, d); err != nil {
				return fmt.Errorf("storing DAG node: %w", err)
			}
		}
	}
	t.start(leaves)
	for i := range leaves {
		d, err := t.nextLeaf(ctx)
		if err != nil {
			return err
		}
		if i == 0 { // Sources lists only what contributed bytes
			f.res.Sources = append(f.res.Sources, SourcePeers)
		}
		_, err = f.out.Write(d)
		t.bufs.put(d)
		if err != nil {
			return err
		}
		f.report(SourcePeers)
	}
	return nil
}

var errTransferDone = errors.New("transfer finished")

// progressWriter writes to the artifact and reports progress.
type progressWriter struct{ f *fetch }

func (p progressWriter) Write(b []byte) (int, error) {
	n, err := p.f.out.Write(b)
	if err == nil {
		p.f.report(SourceVendor)
	}
	return n, err
}

// artifactWriter is the only path to the caller's writer: it counts every
// byte against the announced size (ErrEndlessData past it), hashes it, and
// tees it to the importer when the vendor's bytes are being kept.
type artifactWriter struct {
	w    io.Writer
	tee  io.WriteCloser
	h    hash.Hash
	n    int64
	size int64
}

func (a *artifactWriter) Write(p []byte) (int, error) {
	if a.n+int64(len(p)) > a.size {
		return 0, fmt.Errorf("%d bytes past the announced %d: %w", a.n+int64(len(p))-a.size, a.size, ErrEndlessData)
	}
	if _, err := a.w.Write(p); err != nil {
		return 0, fmt.Errorf("writing artifact: %w", err)
	}
	a.h.Write(p)
	a.n += int64(len(p))
	if a.tee != nil {
		if _, err := a.tee.Write(p); err != nil {
			a.tee = nil // keeping failed; the fetch itself goes on
		}
	}
	return len(p), nil
}

func (a *artifactWriter) sum() (s [sha256.Size]byte) {
	copy(s[:], a.h.Sum(nil))
	return s
}
