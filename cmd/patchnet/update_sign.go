package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// maxEnvelopeFile bounds what 'update sign' and 'update show' read: an
// announcement plus signatures with their chains.
const maxEnvelopeFile = 4 * updates.MaxAnnouncementBytes

func newUpdateSignCmd() *cobra.Command {
	var (
		keyFile, certFile, out string
		roots, crls            []string
	)
	cmd := &cobra.Command{
		Use:   "sign --key KEY --cert CERT FILE --out FILE",
		Short: "Sign an announcement, or co-sign an envelope",
		Long: `FILE is a bare announcement (it is wrapped into a new envelope) or an
envelope (a signature is added: co-signing). The announcement must validate
and must not have expired, or nothing is signed. With --root, the signatures
already on the envelope are verified first and at least one must be a
publisher of the signer's own zone: what a supernode checks before vouching.
CERT is the signer's chain as 'ca sign' writes it (leaf, then zone CA).`,
		Example: `  patchnet update sign --key pub/node.key --cert pub/node.crt ann.json --out envelope.json
  patchnet update sign --key sn1/node.key --cert sn1/node.crt --root root/root.crt envelope.json --out envelope.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, a, err := readForSigning(args[0])
			if err != nil {
				return err
			}
			key, err := trust.ReadKeyFile(keyFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			chain, err := trust.ReadCertificatesFile(certFile)
			if err != nil {
				return fmt.Errorf("--cert: %w", err)
			}
			if len(roots) > 0 && len(env.Signatures) > 0 {
				if err := checkBeforeCosigning(env, chain[0], roots, crls); err != nil {
					return err
				}
			}
			if err := env.Sign(key, chain); err != nil {
				return fmt.Errorf("signing: %w", err)
			}
			raw, err := env.Marshal()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "signed %s version %d (%d signature(s))\n", a.ID, a.Patchnet.Version, len(env.Signatures))
			return writeOutput(cmd, out, append(raw, '\n'))
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyFile, "key", "", "signer's private key (PEM, 0600)")
	f.StringVar(&certFile, "cert", "", "signer's certificate chain (PEM: leaf, then zone CA)")
	f.StringArrayVar(&roots, "root", nil, "pinned root certificate: verify existing signatures first (repeatable)")
	f.StringArrayVar(&crls, "crl", nil, "CRL file for that verification (repeatable)")
	f.StringVar(&out, "out", "-", "output file (may be FILE itself), - for standard output")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("cert")
	return cmd
}

// readForSigning returns the envelope to sign (new for a bare announcement)
// and its announcement, refusing one that is invalid or expired.
func readForSigning(path string) (*trust.Envelope, *updates.Announcement, error) {
	raw, err := fsutil.ReadFile(path, maxEnvelopeFile)
	if err != nil {
		return nil, nil, err
	}
	env := trust.NewEnvelope(updates.PayloadType, raw)
	if isEnvelope(raw) {
		if env, err = trust.ParseEnvelope(raw); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		if env.PayloadType != updates.PayloadType {
			return nil, nil, fmt.Errorf("%s: payload type %q is not an announcement (%s)", path, env.PayloadType, updates.PayloadType)
		}
	}
	a, err := updates.DecodeAnnouncement(env.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: refusing to sign: %w", path, err)
	}
	if now := time.Now(); !now.Before(a.Patchnet.Expires) {
		return nil, nil, fmt.Errorf("%s: refusing to sign: expired at %s", path, a.Patchnet.Expires.UTC().Format(time.RFC3339))
	}
	return env, a, nil
}

// checkBeforeCosigning verifies the envelope as an agent would up to the
// quorum: valid signatures, a publisher of the signer's zone, a valid,
// unexpired announcement.
func checkBeforeCosigning(env *trust.Envelope, leaf *x509.Certificate, roots, crls []string) error {
	v, err := newEnvelopeVerifier(roots, crls, env, nil)
	if err != nil {
		return err
	}
	m, err := trust.MembershipOf(leaf)
	if err != nil {
		return fmt.Errorf("--cert: %w", err)
	}
	raw, err := env.Marshal()
	if err != nil {
		return err
	}
	// The co-signer's zone is its own: the zone name under the root its
	// certificate chains to (a federated zone of the same name is another).
	v.LearnZoneCAs(env)
	zone, err := v.BindZone(m.Zone)
	if id, verr := v.VerifyChain(leaf, nil); verr == nil {
		zone, err = id.ZoneRef(), nil
	}
	if err != nil {
		return fmt.Errorf("refusing to co-sign: %w", err)
	}
	if _, err := updates.VerifyAnnouncement(v, raw, zone, 1); err != nil {
		return fmt.Errorf("refusing to co-sign: %w", err)
	}
	return nil
}

// newEnvelopeVerifier pins roots (files) and loads crls (files) for
// verifying env, on clock (nil is the system clock). The zone CAs in env's
// signature chains are learnt before the CRLs are added: a CRL is only
// taken from a CA that chains to a pinned root, and an offline host may
// never have seen its zone CA except in the envelope. apply, 'update sign'
// and 'update show' all build their verifier here, so a CRL one accepts the
// others accept too. env may be nil (nothing to learn from).
func newEnvelopeVerifier(roots, crls []string, env *trust.Envelope, clock trust.Clock) (*trust.Verifier, error) {
	cfg := trust.DefaultVerifierConfig()
	if clock != nil {
		cfg.Clock = clock
	}
	for _, path := range roots {
		certs, err := trust.ReadCertificatesFile(path)
		if err != nil {
			return nil, fmt.Errorf("pinning root %s: %w", path, err)
		}
		cfg.Roots = append(cfg.Roots, certs...)
	}
	v, err := trust.NewVerifier(cfg)
	if err != nil {
		return nil, fmt.Errorf("pinning roots: %w", err)
	}
	if env != nil {
		v.LearnZoneCAs(env)
	}
	for _, path := range crls {
		der, err := trust.ReadCRLFile(path)
		if err == nil {
			_, err = v.AddCRL(der)
		}
		if err != nil {
			return nil, fmt.Errorf("loading CRL %s: %w", path, err)
		}
	}
	return v, nil
}

func newUpdateShowCmd() *cobra.Command {
	var (
		roots, crls []string
		format      string
	)
	cmd := &cobra.Command{
		Use:   "show FILE",
		Short: "Describe an announcement or envelope for people",
		Long: `Print an announcement (bare or inside an envelope): id, version, categories,
CVEs, expiry, affected packages and ranges, artifact. For an envelope, list
the signatures; with --root each is verified and shown with its signer's
role, zone and peer ID, or the reason it does not count. --format json prints
the announcement itself.`,
		Example: `  patchnet update show ann.json
  patchnet update show --root root/root.crt --crl zone-acme/zone.crl envelope.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := fsutil.ReadFile(args[0], maxEnvelopeFile)
			if err != nil {
				return err
			}
			return showFile(cmd.OutOrStdout(), raw, format, roots, crls)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&roots, "root", nil, "pinned root certificate: verify and name the signers (repeatable)")
	f.StringArrayVar(&crls, "crl", nil, "CRL file (repeatable)")
	f.StringVar(&format, "format", "text", "text or json")
	return cmd
}

func showFile(w io.Writer, raw []byte, format string, roots, crls []string) error {
	if format != "text" && format != "json" {
		return fmt.Errorf("--format: %q is not text or json", format)
	}
	var env *trust.Envelope
	payload := raw
	if isEnvelope(raw) {
		var err error
		if env, err = trust.ParseEnvelope(raw); err != nil {
			return err
		}
		payload = env.Payload
	}
	a, err := updates.DecodeAnnouncement(payload)
	if err != nil {
		return err
	}
	if format == "json" {
		out, err := a.Marshal()
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	describeAnnouncement(w, a)
	if env != nil {
		return describeSignatures(w, env, raw, roots, crls)
	}
	fmt.Fprintln(w, "Signatures: none (a bare announcement)")
	return nil
}

func describeAnnouncement(w io.Writer, a *updates.Announcement) {
	p := a.Patchnet
	fmt.Fprintf(w, "Announcement %s, version %d\n", a.ID, p.Version)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-11s %s\n", k+":", v)
		}
	}
	line("Summary", a.Summary)
	cats := make([]string, len(p.Categories))
	for i, c := range p.Categories {
		cats[i] = string(c)
	}
	line("Categories", strings.Join(cats, ", "))
	line("CVEs", strings.Join(a.CVEs(), ", "))
	line("Modified", a.Modified.UTC().Format(time.RFC3339))
	expiry := p.Expires.UTC().Format(time.RFC3339)
	if !time.Now().Before(p.Expires) {
		expiry += " (EXPIRED)"
	}
	line("Expires", expiry)
	if p.RebootRequired {
		line("Reboot", "required (reported, never performed)")
	}
	if len(a.Affected) == 0 {
		line("Affected", "no package named: every host of the zone")
	}
	for _, af := range a.Affected {
		line("Affected", fmt.Sprintf("%s %s %s", af.Package.Ecosystem, af.Package.Name, describeRanges(af)))
	}
	if ar := p.Artifact; ar != nil {
		line("Artifact", fmt.Sprintf("%s (%d bytes, %s)", ar.Name, ar.Size, ar.Method))
		line("SHA-256", ar.SHA256.String())
		line("Content id", ar.ContentID)
		for _, u := range ar.URLs {
			line("URL", u)
		}
		line("Instructions", ar.Instructions)
	}
}

func describeRanges(af updates.Affected) string {
	var parts []string
	for _, r := range af.Ranges {
		var ev []string
		for _, e := range r.Events {
			switch {
			case e.Introduced != "":
				ev = append(ev, "introduced "+e.Introduced)
			case e.Fixed != "":
				ev = append(ev, "fixed "+e.Fixed)
			case e.LastAffected != "":
				ev = append(ev, "last affected "+e.LastAffected)
			case e.Limit != "":
				ev = append(ev, "limit "+e.Limit)
			}
		}
		parts = append(parts, fmt.Sprintf("[%s: %s]", r.Type, strings.Join(ev, ", ")))
	}
	if len(af.Versions) > 0 {
		parts = append(parts, fmt.Sprintf("[%d listed versions]", len(af.Versions)))
	}
	return strings.Join(parts, " ")
}

func describeSignatures(w io.Writer, env *trust.Envelope, raw []byte, roots, crls []string) error {
	fmt.Fprintf(w, "Signatures: %d\n", len(env.Signatures))
	if len(roots) == 0 {
		for _, s := range env.Signatures {
			fmt.Fprintf(w, "  keyid %s (unverified: give --root to verify)\n", s.KeyID)
		}
		return nil
	}
	v, err := newEnvelopeVerifier(roots, crls, env, nil)
	if err != nil {
		return err
	}
	ve, err := v.VerifyEnvelope(raw)
	if err != nil {
		fmt.Fprintf(w, "  NONE VALID: %v\n", err)
		return errors.New("no valid signature")
	}
	for _, id := range ve.Signers {
		fmt.Fprintf(w, "  valid: %s, zone %s, %s, peer %s\n", id.Subject, id.Zone, signerRoles(id), id.PeerID)
	}
	for _, r := range ve.Rejected {
		fmt.Fprintf(w, "  REJECTED: %v\n", r)
	}
	return nil
}

func signerRoles(id trust.Identity) string {
	s := make([]string, len(id.Roles))
	for i, r := range id.Roles {
		s[i] = string(r)
	}
	return strings.Join(s, "+")
}
