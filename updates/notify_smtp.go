package updates

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTP transport security.
const (
	SMTPStartTLS = "starttls" // plain connection upgraded with STARTTLS (port 587)
	SMTPTLS      = "tls"      // TLS from the first byte (port 465)
	SMTPNone     = "none"     // plaintext: only for a relay on this host
)

// SMTPConfig is the [notify.smtp] section.
type SMTPConfig struct {
	// Addr is host:port of the mail server.
	Addr string `toml:"addr"`
	// From is the envelope and header sender.
	From string `toml:"from"`
	// To are the recipients.
	To []string `toml:"to"`
	// Security is starttls, tls or none.
	Security string `toml:"security"`
	// Username and Password enable AUTH PLAIN (refused over plaintext to
	// anything but loopback).
	Username string `toml:"username"`
	Password string `toml:"password"`
	// Timeout bounds one whole SMTP session.
	Timeout Duration `toml:"timeout"`
	// TLS, when set, replaces the default TLS configuration (tests, private
	// CAs); not read from TOML.
	TLS *tls.Config `toml:"-"`
}

// DefaultSMTPConfig is a submission-port setup with STARTTLS.
func DefaultSMTPConfig() SMTPConfig {
	return SMTPConfig{
		Addr:     "localhost:587",                // the local MTA's submission port
		From:     "patchnet@localhost",           // replace with a real sender
		Security: SMTPStartTLS,                   // never send update news in the clear by default
		Timeout:  Duration(DefaultNotifyTimeout), // one session
	}
}

// Validate names the first bad field.
func (c SMTPConfig) Validate() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil || host == "" {
		return fmt.Errorf("notify.smtp.addr: %q: want host:port", c.Addr)
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("notify.smtp.from: %q: %w", c.From, err)
	}
	if len(c.To) == 0 || len(c.To) > MaxRecipients {
		return fmt.Errorf("notify.smtp.to: %d recipients, want 1..%d", len(c.To), MaxRecipients)
	}
	for i, to := range c.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return fmt.Errorf("notify.smtp.to[%d]: %q: %w", i, to, err)
		}
	}
	switch c.Security {
	case SMTPStartTLS, SMTPTLS, SMTPNone:
	default:
		return fmt.Errorf("notify.smtp.security: %q is not starttls, tls or none", c.Security)
	}
	if c.Username != "" && c.Security == SMTPNone && !isLoopbackHost(host) {
		return fmt.Errorf("notify.smtp.username: refusing to send a password in plaintext to %s", host)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("notify.smtp.timeout: %s is not positive", c.Timeout)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SMTPNotifier sends each notification as a plain-text email.
type SMTPNotifier struct {
	cfg SMTPConfig
}

// NewSMTPNotifier validates cfg.
func NewSMTPNotifier(cfg SMTPConfig) (*SMTPNotifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &SMTPNotifier{cfg: cfg}, nil
}

// Notify sends one email to every recipient in one SMTP session.
func (s *SMTPNotifier) Notify(ctx context.Context, n Notification) error {
	msg, err := s.message(n)
	if err != nil {
		return err
	}
	c, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("notifying by email via %s: %w", s.cfg.Addr, err)
	}
	defer c.Close()
	if err := s.send(c, msg); err != nil {
		return fmt.Errorf("notifying by email via %s: %w", s.cfg.Addr, err)
	}
	return nil
}

func (s *SMTPNotifier) dial(ctx context.Context) (*smtp.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.Timeout))
	defer cancel()
	host, _, _ := net.SplitHostPort(s.cfg.Addr)
	tlsCfg := s.cfg.TLS
	if tlsCfg == nil {
		tlsCfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	conn.SetDeadline(time.Now().Add(time.Duration(s.cfg.Timeout)))
	switch s.cfg.Security {
	case SMTPTLS:
		return smtp.NewClient(tls.Client(conn, tlsCfg)), nil
	case SMTPStartTLS:
		c, err := smtp.NewClientStartTLS(conn, tlsCfg)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("starting TLS: %w", err)
		}
		return c, nil
	}
	return smtp.NewClient(conn), nil
}

func (s *SMTPNotifier) send(c *smtp.Client, msg []byte) error {
	if s.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
			return fmt.Errorf("authenticating: %w", err)
		}
	}
	if err := c.SendMail(s.cfg.From, s.cfg.To, bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("sending: %w", err)
	}
	if err := c.Quit(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("quitting: %w", err)
	}
	return nil
}

// message builds an RFC 5322 message with CRLF line ends; header values are
// single-line and MIME-encoded, so announcement text cannot add headers.
func (s *SMTPNotifier) message(n Notification) ([]byte, error) {
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("making message id: %w", err)
	}
	at := n.At
	if at.IsZero() {
		at = time.Now()
	}
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", s.cfg.From)
	for _, to := range s.cfg.To {
		header("To", to)
	}
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(n.Subject())))
	header("Date", at.Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id[:])+"@patchnet>")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	header("X-Patchnet-Mode", string(n.Decision.Mode))
	b.WriteString("\r\n")
	b.Write(crlfLines(n.Body()))
	return b.Bytes(), nil
}

// crlfLines converts line ends to CRLF; a lone "." line is dot-stuffed by
// the SMTP client's DATA writer.
func crlfLines(s string) []byte {
	s = string(bytes.ReplaceAll([]byte(s), []byte("\r\n"), []byte("\n")))
	return bytes.ReplaceAll([]byte(s), []byte("\n"), []byte("\r\n"))
}
