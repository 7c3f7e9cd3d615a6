package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"

	"github.com/patchnet/patchnet/updates/install"
)

// The local API lets the operator of a host see a running node and reach
// its install journal while the daemon holds it: HTTP with JSON bodies on
// the unix socket STATE/patchnet.sock (APISocket), mode 0600, in a state
// directory only its owner may enter. Nothing listens on TCP.
//
// New claims the socket before it opens any state, so a second node on the
// same state directory stops with an error naming the socket instead of
// waiting on a database lock; a socket file nothing answers at (a crashed
// daemon's) is removed, anything else at that path is left alone and the
// node refuses to start. New serves the API once the node is up, so a node
// answers before Run; Close stops serving first (waiting for a rollback in
// flight to end) and removes the socket.
//
//	GET  /v1/status    APIStatus
//	GET  /v1/history   []*install.Transaction, oldest first (agents keeping a journal)
//	POST /v1/rollback  APIRollbackRequest → APIRollbackResult
//	POST /v1/apply     APIApplyRequest → APIApplyEvent lines (apiapply.go)
//
// Errors answer with a 4xx or 5xx status and an APIError body,
// {"error": "...", "code": "..."}.

// APISocketName is the local API socket's name in the state directory.
const APISocketName = "patchnet.sock"

// The local API's endpoints.
const (
	APIStatusPath   = "/v1/status"
	APIHistoryPath  = "/v1/history"
	APIRollbackPath = "/v1/rollback"
)

// APIError codes: what went wrong, for programs.
const (
	APICodeBadRequest      = "bad-request"        // malformed request, bad transaction id
	APICodeTooLarge        = "too-large"          // request body over MaxAPIRequestBytes
	APICodeNotFound        = "not-found"          // no such endpoint or transaction
	APICodeMethod          = "method-not-allowed" // the endpoint takes another HTTP method
	APICodeNoJournal       = "no-journal"         // the node keeps no install journal (no agent role)
	APICodeNotRollbackable = "not-rollbackable"   // install.ErrNotRollbackable: the error says why
	APICodeFailed          = "failed"             // the operation ran and failed, or the node could not read its state
	APICodeShuttingDown    = "shutting-down"      // the node is closing
)

// maxSocketPath is the longest path bind and connect take for a unix
// socket (sun_path is 108 bytes on Linux, NUL included); a longer one is
// reached through the open directory (withSocketAddr).
const maxSocketPath = 107

// APISocket is the local API socket of the node whose state directory is
// state.
func APISocket(state string) string { return filepath.Join(state, APISocketName) }

// apiServer is a node's local API.
type apiServer struct {
	n      *Node
	path   string
	ln     *net.UnixListener
	socket os.FileInfo // the socket file this server created
	srv    *http.Server
	done   chan struct{} // closed when Serve returned

	mu      sync.Mutex
	closing bool
	busy    sync.WaitGroup // rollbacks in flight
}

// listenAPI claims the API socket of the state directory state: the
// directory made owner-only, a stale socket removed, a live one refused.
func listenAPI(state string) (*apiServer, error) {
	if err := ownerOnlyDir(state); err != nil {
		return nil, err
	}
	path := APISocket(state)
	if err := clearSocket(path, state); err != nil {
		return nil, err
	}
	var ln *net.UnixListener
	err := withSocketAddr(path, func(addr string) error {
		var err error
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	// Close removes the file itself, by its real path, and only while it is
	// still this listener's.
	ln.SetUnlinkOnClose(false)
	a := &apiServer{path: path, ln: ln}
	if a.socket, err = os.Lstat(path); err != nil {
		a.close()
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		a.close()
		return nil, fmt.Errorf("restricting %s: %w", path, err)
	}
	return a, nil
}

// ownerOnlyDir creates dir (0700) if it is missing, refuses it if another
// user owns it, and takes group and other permissions off it: only its
// owner may reach the socket in it.
func ownerOnlyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("checking state directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("state directory %s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("state directory %s is owned by uid %d, not by this process's uid %d: the API socket in it would not be private to the daemon's user", dir, st.Uid, os.Geteuid())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, perm&0o700); err != nil {
			return fmt.Errorf("making state directory %s owner-only: %w", dir, err)
		}
	}
	return nil
}

// clearSocket makes path free for a new socket: nothing there, or a
// socket nothing answers at (removed). A daemon answering there, or a file
// that is no socket, is an error.
func clearSocket(path, state string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is no socket: move it away to start a node on state directory %s", path, state)
	}
	ctx, cancel := context.WithTimeout(context.Background(), APIProbeTimeout)
	defer cancel()
	conn, err := dialSocket(ctx, path)
	switch {
	case err == nil:
		conn.Close()
		return fmt.Errorf("a patchnet daemon already answers at %s: another node runs on state directory %s", path, state)
	case noDaemon(err):
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing stale socket %s: %w", path, err)
		}
		return nil
	default:
		return fmt.Errorf("checking whether a daemon answers at %s: %w", path, err)
	}
}

// noDaemon reports whether a connect error means nothing listens: no
// socket file, or one nobody accepts on.
func noDaemon(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOTDIR)
}

// dialSocket connects to the unix socket at path.
func dialSocket(ctx context.Context, path string) (net.Conn, error) {
	var conn net.Conn
	err := withSocketAddr(path, func(addr string) error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, "unix", addr)
		return err
	})
	return conn, err
}

// withSocketAddr calls fn with an address of the socket file path that
// bind and connect take: path itself, or, when it is longer than a
// sockaddr holds, the same file reached through its directory opened as
// /proc/self/fd/N (Linux), so a deep state directory still gets its socket.
func withSocketAddr(path string, fn func(addr string) error) error {
	if len(path) <= maxSocketPath {
		return fn(path)
	}
	if runtime.GOOS != "linux" {
		return fmt.Errorf("socket path %s is %d bytes, more than the %d a socket address holds: use a shorter state directory", path, len(path), maxSocketPath)
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("opening the socket's directory: %w", err)
	}
	defer dir.Close()
	addr := fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path))
	if len(addr) > maxSocketPath {
		return fmt.Errorf("socket name %s is too long for a socket address", filepath.Base(path))
	}
	return fn(addr)
}

// serve starts answering requests about n.
func (a *apiServer) serve(n *Node) {
	a.n = n
	mux := http.NewServeMux()
	mux.HandleFunc(APIStatusPath, a.only(http.MethodGet, a.status))
	mux.HandleFunc(APIHistoryPath, a.only(http.MethodGet, a.history))
	mux.HandleFunc(APIRollbackPath, a.only(http.MethodPost, a.rollback))
	mux.HandleFunc(APIApplyPath, a.only(http.MethodPost, a.apply))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusNotFound, APICodeNotFound, "no endpoint "+r.URL.Path)
	})
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: APIReadTimeout, ReadTimeout: APIReadTimeout,
		IdleTimeout: APIIdleTimeout, MaxHeaderBytes: MaxAPIHeaderBytes,
		ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelWarn)}
	a.done = make(chan struct{})
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Warn("local API stopped", "socket", a.path, "err", err)
		}
	}()
}

// close stops serving: requests in flight get APIShutdownTimeout to end
// (a rollback is waited for in any case), then the socket is removed if it
// is still this server's.
func (a *apiServer) close() error {
	a.mu.Lock()
	a.closing = true
	a.mu.Unlock()
	if a.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), APIShutdownTimeout)
		if err := a.srv.Shutdown(ctx); err != nil {
			a.srv.Close()
		}
		cancel()
		<-a.done
	}
	a.ln.Close()
	a.busy.Wait()
	if fi, err := os.Lstat(a.path); err == nil && a.socket != nil && os.SameFile(fi, a.socket) {
		if err := os.Remove(a.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing API socket: %w", err)
		}
	}
	return nil
}

// only answers requests of method with h, others with 405.
func (a *apiServer) only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeAPIError(w, http.StatusMethodNotAllowed, APICodeMethod, fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, method))
			return
		}
		h(w, r)
	}
}

// status answers GET /v1/status.
func (a *apiServer) status(w http.ResponseWriter, _ *http.Request) {
	st, err := a.n.apiStatus()
	if err != nil {
		writeAPIError(w, http.StatusInternalServerError, APICodeFailed, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// history answers GET /v1/history with the install journal.
func (a *apiServer) history(w http.ResponseWriter, _ *http.Request) {
	m := a.n.Installs()
	if m == nil {
		writeAPIError(w, http.StatusNotFound, APICodeNoJournal, a.n.noJournal())
		return
	}
	txs, err := m.History()
	if err != nil {
		writeAPIError(w, http.StatusInternalServerError, APICodeFailed, err.Error())
		return
	}
	if txs == nil {
		txs = []*install.Transaction{}
	}
	writeJSON(w, http.StatusOK, txs)
}

// rollback answers POST /v1/rollback: the transaction is rolled back by
// the daemon's own install manager, as `patchnet rollback` does offline. A
// client that hangs up does not cut the rollback short.
func (a *apiServer) rollback(w http.ResponseWriter, r *http.Request) {
	var req APIRollbackRequest
	if status, err := decodeAPIRequest(w, r, &req); err != nil {
		code := APICodeBadRequest
		if status == http.StatusRequestEntityTooLarge {
			code = APICodeTooLarge
		}
		writeAPIError(w, status, code, err.Error())
		return
	}
	if err := install.CheckTxID(req.Tx); err != nil {
		writeAPIError(w, http.StatusBadRequest, APICodeBadRequest, err.Error())
		return
	}
	m := a.n.Installs()
	if m == nil {
		writeAPIError(w, http.StatusNotFound, APICodeNoJournal, a.n.noJournal())
		return
	}
	if !a.enter() {
		writeAPIError(w, http.StatusServiceUnavailable, APICodeShuttingDown, "the node is shutting down")
		return
	}
	defer a.busy.Done()
	orig, err := m.Get(req.Tx)
	if err != nil {
		status, code := rollbackErrorStatus(err)
		writeJSON(w, status, APIRollbackResult{Error: err.Error(), Code: code})
		return
	}
	tx, err := m.Rollback(context.WithoutCancel(r.Context()), req.Tx)
	res := APIRollbackResult{Root: orig.Root, Transaction: tx}
	if err != nil {
		status, code := rollbackErrorStatus(err)
		res.Error, res.Code = err.Error(), code
		writeJSON(w, status, res)
		return
	}
	a.n.log.Info("rolled back through the local API", "tx", req.Tx, "rollback", tx.ID)
	a.n.onRolledBack(orig, tx)
	writeJSON(w, http.StatusOK, res)
}

// enter counts a rollback in flight, unless the server is closing.
func (a *apiServer) enter() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closing {
		return false
	}
	a.busy.Add(1)
	return true
}

// rollbackErrorStatus is the HTTP status and code of a rollback's error.
func rollbackErrorStatus(err error) (int, string) {
	switch {
	case errors.Is(err, install.ErrNotFound):
		return http.StatusNotFound, APICodeNotFound
	case errors.Is(err, install.ErrNotRollbackable):
		return http.StatusConflict, APICodeNotRollbackable
	}
	return http.StatusInternalServerError, APICodeFailed
}

// noJournal says why this node has no install journal to show.
func (n *Node) noJournal() string {
	if n.agent == nil {
		return fmt.Sprintf("this node (%s) keeps no install journal: it is no agent", n.RoleText())
	}
	return "this agent's installer keeps no install journal"
}

// decodeAPIRequest reads one JSON object of at most MaxAPIRequestBytes
// into v, unknown keys refused; on an error it returns the HTTP status.
func decodeAPIRequest(w http.ResponseWriter, r *http.Request, v any) (int, error) {
	return decodeAPIBody(w, r, v, MaxAPIRequestBytes)
}

// decodeAPIBody is decodeAPIRequest for a body of at most limit bytes.
func decodeAPIBody(w http.ResponseWriter, r *http.Request, v any, limit int64) (int, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("data after the JSON object")
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return http.StatusOK, nil
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("request body over %d bytes", limit)
	default:
		return http.StatusBadRequest, fmt.Errorf("decoding request: %w", err)
	}
}

// writeJSON answers with v.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // a client that went away is no error of the node's
}

// writeAPIError answers with an APIError.
func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, APIError{Message: msg, Code: code})
}
