package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
)

func init() { rootCmd.AddCommand(newCACmd()) }

// newCACmd builds `patchnet ca` and its subcommands. Commands are built by
// functions, not package variables, so tests can run a fresh tree each time
// without flag values leaking between runs.
func newCACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Run a root or zone certificate authority",
		Long: `Root and zone certificate authorities kept in directories.

A root CA (pinned by every agent) signs zone CAs; a zone CA signs node
certificates from requests (patchnet cert request), revokes them and issues
CRLs. Keys are written 0600 and never printed.`,
		Example: `  patchnet ca init-root --out root
  patchnet ca init-zone --root root --zone acme --out zone-acme
  patchnet ca sign --ca zone-acme node1/node.csr`,
	}
	cmd.AddCommand(newCAInitRootCmd(), newCAInitZoneCmd(), newCASignCmd(), newCARevokeCmd(), newCACRLCmd())
	return cmd
}

func newCAInitRootCmd() *cobra.Command {
	o := ca.DefaultRootOptions()
	var out, keyType string
	cmd := &cobra.Command{
		Use:   "init-root --out DIR",
		Short: "Create a root CA (root.crt, root.key)",
		Long: `Create a self-signed root CA in DIR: root.key (0600), root.crt and
state.json. Agents pin root.crt by its SHA-256 fingerprint; pin several roots
to federate organisations. Refuses to overwrite an existing CA.`,
		Example: `  patchnet ca init-root --out /etc/patchnet/root --name "ACME root CA"
  patchnet ca init-root --out root --key-type ecdsa-p256 --days 7300`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			alg, err := trust.ParseKeyAlgorithm(keyType)
			if err != nil {
				return err
			}
			o.KeyType = alg
			c, err := ca.InitRoot(out, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created root CA %q in %s\n  certificate %s\n  fingerprint %s\n",
				c.Cert.Subject.CommonName, out, filepath.Join(out, ca.RootCertFile), trust.FingerprintOf(c.Cert))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "directory to create the root CA in (required)")
	f.StringVar(&o.Name, "name", o.Name, "common name of the root CA")
	f.IntVar(&o.Days, "days", o.Days, fmt.Sprintf("lifetime in days (at most %d)", ca.MaxRootDays))
	f.StringVar(&keyType, "key-type", string(trust.KeyEd25519), "key algorithm: ed25519 or ecdsa-p256")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func newCAInitZoneCmd() *cobra.Command {
	o := ca.DefaultZoneOptions()
	var rootDir, zone, out, keyType string
	var roles []string
	cmd := &cobra.Command{
		Use:   "init-zone --root DIR --zone NAME --out DIR",
		Short: "Create a zone CA signed by a root CA (zone.crt, zone.key)",
		Long: `Create a zone CA for zone NAME in --out, signed by the root CA in --root:
zone.key (0600), zone.crt, state.json and a first, empty zone.crl. The zone CA
has path length 0 and may grant only the roles given by --roles.`,
		Example: `  patchnet ca init-zone --root root --zone acme --out zone-acme
  patchnet ca init-zone --root root --zone lab --out zone-lab --roles agent,supernode`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			alg, err := trust.ParseKeyAlgorithm(keyType)
			if err != nil {
				return err
			}
			o.KeyType = alg
			if o.Roles, err = parseRoles(roles); err != nil {
				return err
			}
			c, err := ca.InitZone(rootDir, zone, out, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created zone CA %s in %s\n  certificate %s\n  CRL         %s\n  fingerprint %s\n",
				zone, out, filepath.Join(out, ca.ZoneCertFile), c.CRLPath(), trust.FingerprintOf(c.Cert))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&rootDir, "root", "", "directory of the root CA (required)")
	f.StringVar(&zone, "zone", "", "zone name (required)")
	f.StringVar(&out, "out", "", "directory to create the zone CA in (required)")
	f.IntVar(&o.Days, "days", o.Days, fmt.Sprintf("lifetime in days (at most %d)", ca.MaxZoneDays))
	f.IntVar(&o.CRLDays, "crl-days", o.CRLDays, "freshness of the first CRL in days")
	f.StringVar(&keyType, "key-type", string(trust.KeyEd25519), "key algorithm: ed25519 or ecdsa-p256")
	f.StringSliceVar(&roles, "roles", []string{"agent", "supernode", "publisher"}, "roles this zone CA may grant")
	for _, n := range []string{"root", "zone", "out"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

func parseRoles(names []string) ([]trust.Role, error) {
	out := make([]trust.Role, 0, len(names))
	for _, n := range names {
		r, err := trust.ParseRole(n)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func newCASignCmd() *cobra.Command {
	var caDir string
	var o ca.SignOptions
	cmd := &cobra.Command{
		Use:   "sign --ca ZONEDIR CSR",
		Short: "Sign a node's certificate request (node.crt beside the CSR)",
		Long: `Sign a certificate request made by 'patchnet cert request' with the zone CA
in --ca. The request's signature, its zone (must be this CA's), its role (must
be one this CA may grant) and the validity asked are checked. node.crt, the
leaf followed by the zone CA certificate, is written beside the CSR.`,
		Example: `  patchnet ca sign --ca zone-acme node1/node.csr
  patchnet ca sign --ca zone-acme --days 90 node2/node.csr`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, leaf, err := ca.SignFile(caDir, args[0], o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed %s\n  certificate %s (serial %#x, until %s)\n",
				leaf.Subject.CommonName, path, leaf.SerialNumber, leaf.NotAfter.UTC().Format("2006-01-02"))
			return nil
		},
	}
	cmd.Flags().StringVar(&caDir, "ca", "", "directory of the zone CA (required)")
	cmd.Flags().IntVar(&o.Days, "days", ca.DefaultLeafDays, fmt.Sprintf("lifetime in days (at most %d)", ca.MaxLeafDays))
	_ = cmd.MarkFlagRequired("ca")
	return cmd
}

func newCARevokeCmd() *cobra.Command {
	var caDir, reason string
	cmd := &cobra.Command{
		Use:   "revoke --ca CADIR CERT",
		Short: "Revoke a certificate this CA issued (listed in the next CRL)",
		Long: `Record the certificate in CERT (its first certificate) as revoked by the CA in
--ca. A zone CA revokes node certificates, a root CA revokes zone CAs. Run
'patchnet ca crl' afterwards to publish a CRL listing it.`,
		Example: `  patchnet ca revoke --ca zone-acme node1/node.crt
  patchnet ca revoke --ca zone-acme --reason keyCompromise node1/node.crt && patchnet ca crl --ca zone-acme`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := ca.ParseReason(reason)
			if err != nil {
				return err
			}
			cert, err := ca.RevokeFile(caDir, args[0], r)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (serial %#x, reason %s); run: patchnet ca crl --ca %s\n",
				cert.Subject.CommonName, cert.SerialNumber, r, caDir)
			return nil
		},
	}
	cmd.Flags().StringVar(&caDir, "ca", "", "directory of the issuing CA (required)")
	cmd.Flags().StringVar(&reason, "reason", "unspecified", "RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation")
	_ = cmd.MarkFlagRequired("ca")
	return cmd
}

func newCACRLCmd() *cobra.Command {
	var caDir string
	var days int
	cmd := &cobra.Command{
		Use:   "crl --ca CADIR",
		Short: "Issue the CA's next CRL (zone.crl in the CA directory)",
		Long: `Issue the next RFC 5280 CRL of the CA in --ca (CRL number + 1), listing every
revoked certificate, fresh for --days. Verifiers fail closed once nextUpdate
passes, so reissue well before that (e.g. daily from cron).`,
		Example: `  patchnet ca crl --ca zone-acme
  patchnet ca crl --ca zone-acme --days 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, crl, err := ca.CRLFile(caDir, days)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: CRL number %s, %d revoked, next update %s\n",
				path, crl.Number, len(crl.RevokedCertificateEntries), crl.NextUpdate.UTC().Format("2006-01-02T15:04:05Z"))
			return nil
		},
	}
	cmd.Flags().StringVar(&caDir, "ca", "", "directory of the CA (required)")
	cmd.Flags().IntVar(&days, "days", ca.DefaultCRLDays, fmt.Sprintf("days until nextUpdate (at most %d)", ca.MaxCRLDays))
	_ = cmd.MarkFlagRequired("ca")
	return cmd
}
