package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/patchnet/patchnet/trust"
)

// The direct protocols beside gossip (install reports, co-signing status)
// are one exchange per stream: the side that opens it writes its request
// and closes its write side, the other answers and closes. Both sides read
// at most a bound, so neither can make the other hold more.

// exchange opens a stream to p on proto, sends req and returns the answer,
// at most maxAnswer bytes, within StreamExchangeTimeout.
func exchange(ctx context.Context, h host.Host, p peer.ID, proto protocol.ID, req []byte, maxAnswer int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, StreamExchangeTimeout)
	defer cancel()
	s, err := h.NewStream(network.WithNoDial(ctx, "only peers already connected"), p, proto)
	if err != nil {
		return nil, fmt.Errorf("opening %s stream to %s: %w", proto, p, err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if _, err := s.Write(req); err != nil {
		s.Reset()
		return nil, fmt.Errorf("sending on %s to %s: %w", proto, p, err)
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		return nil, fmt.Errorf("sending on %s to %s: %w", proto, p, err)
	}
	answer, err := readBounded(s, maxAnswer)
	if err != nil {
		s.Reset()
		return nil, fmt.Errorf("reading the answer of %s on %s: %w", p, proto, err)
	}
	return answer, nil
}

// readBounded reads r to its end, refusing more than max bytes.
func readBounded(r io.Reader, max int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	switch {
	case err != nil:
		return nil, err
	case len(b) > max:
		return nil, fmt.Errorf("%w: more than %d bytes", trust.ErrOversized, max)
	}
	return b, nil
}

// serveExchange reads one request of at most maxRequest bytes from s and
// writes what answer makes of it, within StreamExchangeTimeout. sem bounds
// the exchanges served at once: beyond it the stream is reset unread.
func serveExchange(s network.Stream, sem chan struct{}, maxRequest int, answer func(p peer.ID, req []byte, err error) []byte) {
	select {
	case sem <- struct{}{}:
		defer func() { <-sem }()
	default:
		s.Reset()
		return
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(StreamExchangeTimeout))
	req, err := readBounded(s, maxRequest)
	if err != nil && !errors.Is(err, trust.ErrOversized) {
		s.Reset()
		return
	}
	if _, err := s.Write(answer(s.Conn().RemotePeer(), req, err)); err != nil {
		s.Reset()
	}
}

// verifyOneSigner verifies env, which must carry exactly one signature of
// payloadType, and returns its signer: a forged signature is
// trust.ErrBadSignature, a revoked or expired signer says so.
func (n *Node) verifyOneSigner(env *trust.Envelope, payloadType string) (trust.Identity, error) {
	if env.PayloadType != payloadType {
		return trust.Identity{}, fmt.Errorf("%w: payload type %q, want %q", trust.ErrMalformed, env.PayloadType, payloadType)
	}
	if len(env.Signatures) != 1 {
		return trust.Identity{}, fmt.Errorf("%w: %d signatures, want 1", trust.ErrMalformed, len(env.Signatures))
	}
	ve, err := n.verifier.VerifyParsedEnvelope(env)
	if err != nil {
		return trust.Identity{}, err
	}
	return ve.Signers[0], nil
}
