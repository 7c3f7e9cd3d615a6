package k8s

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/patchnet/patchnet/node"
)

// CutPath is where a cut pod's Proxy says when its partition cut was in
// place and when it healed (CutState): the heal is a moment only the cut
// container knows; the node's own alarm clears a heartbeat later.
const CutPath = "/testnet/cut"

// CutState is a cut pod's partition, from the stamps its `testnet cut`
// container wrote; a zero time has no stamp yet.
type CutState struct {
	CutAt    time.Time `json:"cut_at,omitzero"`
	HealedAt time.Time `json:"healed_at,omitzero"`
}

// ProxyOptions are what a Proxy serves besides the node's API.
type ProxyOptions struct {
	// CutReady and CutHealed are the partition cut's stamp files in the
	// pod ("": not a cut pod; CutPath answers 404).
	CutReady, CutHealed string
}

// Proxy serves the read-only part of the local API of the node on state
// (GET /v1/status and /v1/history) over HTTP, for collect: the node's
// socket stays unix-only and owner-only, and nothing that changes the
// node (POST /v1/rollback) is reachable through it. It runs in the
// node's pod as the node's user. In a cut pod it also answers CutPath.
func Proxy(state string, o ProxyOptions) http.Handler {
	mux := http.NewServeMux()
	if o.CutReady != "" || o.CutHealed != "" {
		mux.HandleFunc("GET "+CutPath, func(w http.ResponseWriter, r *http.Request) {
			raw, _ := json.Marshal(CutState{CutAt: readStamp(o.CutReady), HealedAt: readStamp(o.CutHealed)})
			writeRaw(w, http.StatusOK, raw)
		})
	}
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

// readStamp is the time a `testnet cut` stamp file holds, zero when
// there is none (not yet, or not readable as one).
func readStamp(path string) time.Time {
	if path == "" {
		return time.Time{}
	}
	raw, err := os.ReadFile(path)
	if err != nil || len(raw) > maxStampBytes {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(raw)))
	if err != nil {
		return time.Time{}
	}
	return t
}

// FetchCut reads a cut pod's CutState through its Proxy at endpoint.
func FetchCut(ctx context.Context, endpoint string) (CutState, error) {
	ctx, cancel := context.WithTimeout(ctx, CollectTimeout)
	defer cancel()
	var c CutState
	if _, err := getJSON(ctx, endpoint+CutPath, &c); err != nil {
		return c, fmt.Errorf("reading the cut's stamps: %w", err)
	}
	return c, nil
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
