package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/patchnet/patchnet/updates/install"
)

// ErrNoDaemon is what DialAPI returns (wrapped) when no daemon answers at
// the socket: there is no socket file, or nothing accepts on it. An
// APIClient's requests return it too once the daemon has gone.
var ErrNoDaemon = errors.New("no patchnet daemon answers")

// apiBase is the URL every request goes to; the transport dials the socket
// whatever the host.
const apiBase = "http://patchnet"

// APIClient talks to the local API of a running node (the daemon) over
// its unix socket.
type APIClient struct {
	socket string
	hc     *http.Client
}

// DialAPI connects to the local API of the node whose state directory is
// state, once, to learn whether a daemon answers there. When none does the
// error wraps ErrNoDaemon; any other error (permission denied, say) means
// the socket could not be tried. Close the client when done.
func DialAPI(ctx context.Context, state string) (*APIClient, error) {
	path := APISocket(state)
	probe, cancel := context.WithTimeout(ctx, APIProbeTimeout)
	defer cancel()
	conn, err := dialSocket(probe, path)
	if err != nil {
		if noDaemon(err) {
			return nil, fmt.Errorf("%w at %s: %w", ErrNoDaemon, path, err)
		}
		return nil, fmt.Errorf("connecting to the patchnet daemon at %s: %w", path, err)
	}
	conn.Close()
	tr := &http.Transport{
		DialContext:  func(ctx context.Context, _, _ string) (net.Conn, error) { return dialSocket(ctx, path) },
		MaxIdleConns: 1, IdleConnTimeout: APIIdleTimeout, DisableCompression: true,
	}
	return &APIClient{socket: path, hc: &http.Client{Transport: tr}}, nil
}

// Close closes the client's idle connection.
func (c *APIClient) Close() { c.hc.CloseIdleConnections() }

// RawStatus is the daemon's answer to GET /v1/status as it sent it.
func (c *APIClient) RawStatus(ctx context.Context) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, APIClientTimeout)
	defer cancel()
	body, err := c.do(ctx, http.MethodGet, APIStatusPath, nil)
	if err != nil {
		return nil, err
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("reading status from %s: the answer is no JSON", c.socket)
	}
	return body, nil
}

// Status is the daemon's snapshot of itself.
func (c *APIClient) Status(ctx context.Context) (*APIStatus, error) {
	body, err := c.RawStatus(ctx)
	if err != nil {
		return nil, err
	}
	var st APIStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("decoding status from %s: %w", c.socket, err)
	}
	return &st, nil
}

// History is the daemon's install journal, oldest first. A node keeping no
// journal answers with an *APIError of code APICodeNoJournal.
func (c *APIClient) History(ctx context.Context) ([]*install.Transaction, error) {
	ctx, cancel := context.WithTimeout(ctx, APIClientTimeout)
	defer cancel()
	body, err := c.do(ctx, http.MethodGet, APIHistoryPath, nil)
	if err != nil {
		return nil, err
	}
	var txs []*install.Transaction
	if err := json.Unmarshal(body, &txs); err != nil {
		return nil, fmt.Errorf("decoding history from %s: %w", c.socket, err)
	}
	return txs, nil
}

// Rollback has the daemon roll back transaction tx and waits for the
// outcome, however long the installer takes (ctx bounds the wait, not
// the rollback). On a failure the result says as much as is known (the
// root, the rollback transaction as far as it got) and the error is an
// *APIError carrying the daemon's message.
func (c *APIClient) Rollback(ctx context.Context, tx string) (*APIRollbackResult, error) {
	req, err := json.Marshal(APIRollbackRequest{Tx: tx})
	if err != nil {
		return nil, fmt.Errorf("encoding rollback request: %w", err)
	}
	body, err := c.do(ctx, http.MethodPost, APIRollbackPath, req)
	var apiErr *APIError
	if err != nil && !errors.As(err, &apiErr) {
		return nil, err
	}
	var res APIRollbackResult
	if uerr := json.Unmarshal(body, &res); uerr != nil {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("decoding rollback result from %s: %w", c.socket, uerr)
	}
	return &res, err
}

// do sends one request and returns the answer's body, at most
// MaxAPIResponseBytes. An error answer is returned with its body and an
// *APIError.
func (c *APIClient) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, apiBase+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building request %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if noDaemon(err) { // it stopped since DialAPI
			return nil, fmt.Errorf("%w at %s: %w", ErrNoDaemon, c.socket, err)
		}
		return nil, fmt.Errorf("asking the patchnet daemon at %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAPIResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of the patchnet daemon at %s: %w", c.socket, err)
	}
	if len(b) > MaxAPIResponseBytes {
		return nil, fmt.Errorf("the answer of the patchnet daemon at %s to %s is over %d bytes", c.socket, path, MaxAPIResponseBytes)
	}
	if resp.StatusCode/100 == 2 {
		return b, nil
	}
	e := &APIError{Status: resp.StatusCode}
	if json.Unmarshal(b, e) != nil || e.Message == "" {
		e.Message = fmt.Sprintf("the patchnet daemon at %s answered %s", c.socket, resp.Status)
	}
	return b, e
}
