package content

import (
	"errors"
	"fmt"

	"github.com/patchnet/patchnet/trust"
)

// Verification failures. Each matches errors.Is(err, trust.ErrUntrusted):
// the bytes came from a peer or vendor that cannot be believed.
var (
	// ErrCorruptBlock: a block's bytes do not hash to its CID (from a peer,
	// or from disk after corruption).
	ErrCorruptBlock = fmt.Errorf("%w: block does not match its CID", trust.ErrUntrusted)
	// ErrEndlessData: more bytes arrived than the announcement allows.
	ErrEndlessData = fmt.Errorf("%w: more data than the announced size", trust.ErrUntrusted)
	// ErrSizeMismatch: the artifact (or its DAG) is not the announced size.
	ErrSizeMismatch = fmt.Errorf("%w: size differs from the announced size", trust.ErrUntrusted)
	// ErrDigestMismatch: the artifact's SHA-256 is not the announced one.
	ErrDigestMismatch = fmt.Errorf("%w: artifact SHA-256 differs from the announced one", trust.ErrDigestMismatch)
	// ErrBadDAG: a DAG node is malformed or not the UnixFS file shape this
	// package builds (dag-pb internal nodes over raw leaves).
	ErrBadDAG = fmt.Errorf("%w: unsupported or malformed DAG", trust.ErrUntrusted)
)

// Operational failures: nothing was forged, but the fetch cannot go on.
var (
	// ErrNotFound: the block store does not hold the block.
	ErrNotFound = errors.New("block not found")
	// ErrOversized: a block, request or artifact exceeds a bound in limits.go.
	ErrOversized = errors.New("exceeds size limit")
	// ErrNoSource: neither peers nor vendor URLs could deliver the artifact.
	ErrNoSource = errors.New("no source delivered the artifact")
	// ErrMalformedRequest: a transfer request could not be decoded.
	ErrMalformedRequest = errors.New("malformed content request")
	// ErrBusy: the provider spent its serve budget for the artifact (it
	// seeded it and served its share); the fetch goes on without it. A
	// soft refusal: the provider is not marked bad.
	ErrBusy = errors.New("provider busy: serve budget for the artifact spent, ask others")
	// ErrMalformedBusy: a busy frame's hints could not be decoded. Not a
	// verification failure (hints are advice, trusted for nothing), but
	// the provider is dropped as broken rather than as busy.
	ErrMalformedBusy = errors.New("malformed busy frame")
	// ErrRemote: the serving peer answered with an error frame.
	ErrRemote = errors.New("provider reported an error")
)
