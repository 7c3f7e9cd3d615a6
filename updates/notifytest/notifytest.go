// Package notifytest runs the real receivers of patchnet's notification
// channels on 127.0.0.1 for tests: an SMTP server (go-smtp) that keeps the
// messages it accepts, and an HTTP server that keeps the webhook bodies
// POSTed to it.
//
// It must not import any patchnet package: the updates package's own tests
// use it.
package notifytest

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one email a Mailbox accepted.
type Message struct {
	From string
	To   []string
	Data []byte // the message as received (headers and body)
	Auth string // the AUTH PLAIN user, "" without AUTH
}

// Mailbox is a real SMTP server on 127.0.0.1 that keeps what it receives.
// With User set, it requires AUTH PLAIN with User and Pass before MAIL.
type Mailbox struct {
	// Addr is the server's host:port.
	Addr string
	User string
	Pass string

	mu       sync.Mutex
	messages []Message
}

// StartSMTP runs a mailbox requiring user and pass (none when user is ""),
// offering STARTTLS when tlsCfg is set, until the test ends.
func StartSMTP(t testing.TB, user, pass string, tlsCfg *tls.Config) *Mailbox {
	t.Helper()
	box := &Mailbox{User: user, Pass: pass}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{box: box}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = tlsCfg == nil
	srv.TLSConfig = tlsCfg
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	box.Addr = l.Addr().String()
	return box
}

// Messages are the messages received so far, oldest first.
func (b *Mailbox) Messages() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message(nil), b.messages...)
}

func (b *Mailbox) add(m Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.messages = append(b.messages, m)
}

// session is one SMTP session of a Mailbox.
type session struct {
	box  *Mailbox
	msg  Message
	auth string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.box.User || pass != s.box.Pass {
			return errors.New("invalid credentials")
		}
		s.auth = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.box.User != "" && s.auth == "" {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	s.msg = Message{From: from, Auth: s.auth}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = b
	s.box.add(s.msg)
	return nil
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

// Webhook is a real HTTP server on 127.0.0.1 that keeps the body of every
// request and answers 204.
type Webhook struct {
	// URL is where to POST.
	URL string

	mu     sync.Mutex
	bodies [][]byte
}

// StartWebhook runs a webhook receiver until the test ends.
func StartWebhook(t testing.TB) *Webhook {
	t.Helper()
	w := &Webhook{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.bodies = append(w.bodies, b)
		w.mu.Unlock()
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

// Bodies are the request bodies received so far, oldest first.
func (w *Webhook) Bodies() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]byte(nil), w.bodies...)
}
