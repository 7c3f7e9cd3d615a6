package k8s

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/patchnet/patchnet/node"
)

// Proxy serves the read-only part of the local API of the node on state
// (GET /v1/status and /v1/history) over HTTP, for collect: the node's
// socket stays unix-only and owner-only, and nothing that changes the
// node (POST /v1/rollback) is reachable through it. It runs in the
// node's pod as the node's user.
func Proxy(state string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+node.APIStatusPath, func(w http.ResponseWriter, r *http.Request) {
		c, ok := dialNode(w, r, state)
		if !ok {
			return
		}
		defer c.Close()
		raw, err := c.RawStatus(r.Context())
		if err != nil {
			proxyError(w, err)
			return
		}
		writeRaw(w, http.StatusOK, raw)
	})
	mux.HandleFunc("GET "+node.APIHistoryPath, func(w http.ResponseWriter, r *http.Request) {
		c, ok := dialNode(w, r, state)
		if !ok {
			return
		}
		defer c.Close()
		txs, err := c.History(r.Context())
		if err != nil {
			proxyError(w, err)
			return
		}
		raw, err := json.Marshal(txs)
		if err != nil {
			proxyError(w, err)
			return
		}
		writeRaw(w, http.StatusOK, raw)
	})
	return mux
}

// dialNode connects to the node's socket or answers 503.
func dialNode(w http.ResponseWriter, r *http.Request, state string) (*node.APIClient, bool) {
	c, err := node.DialAPI(r.Context(), state)
	if err != nil {
		proxyError(w, err)
		return nil, false
	}
	return c, true
}

// proxyError passes the node's own error answer on (status and body), or
// says 503 when no node answers and 502 for anything else.
func proxyError(w http.ResponseWriter, err error) {
	var apiErr *node.APIError
	switch {
	case errors.As(err, &apiErr):
		status := apiErr.Status
		if status == 0 {
			status = http.StatusBadGateway
		}
		raw, _ := json.Marshal(apiErr)
		writeRaw(w, status, raw)
	case errors.Is(err, node.ErrNoDaemon):
		raw, _ := json.Marshal(node.APIError{Message: err.Error()})
		writeRaw(w, http.StatusServiceUnavailable, raw)
	default:
		raw, _ := json.Marshal(node.APIError{Message: err.Error()})
		writeRaw(w, http.StatusBadGateway, raw)
	}
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}
