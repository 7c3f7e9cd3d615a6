package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
)

func init() { rootCmd.AddCommand(newCertCmd()) }

// newCertCmd builds `patchnet cert` and its subcommands.
func newCertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Request, verify and show node certificates",
		Example: `  patchnet cert request --role agent --zone acme --out node1
  patchnet cert verify --root root/root.crt --crl zone-acme/zone.crl node1/node.crt
  patchnet cert show node1/node.crt`,
	}
	cmd.AddCommand(newCertRequestCmd(), newCertVerifyCmd(), newCertShowCmd())
	return cmd
}

func newCertRequestCmd() *cobra.Command {
	var o ca.RequestOptions
	var role, keyType, out string
	cmd := &cobra.Command{
		Use:   "request --role agent|supernode|publisher --zone NAME --out DIR",
		Short: "Make a node key and certificate request (node.key, node.csr)",
		Long: `Generate the node's key (node.key, 0600; it is also the node's libp2p
identity, so the peer ID follows from it) and a certificate request
(node.csr) asking for --role in --zone. Send node.csr to the zone CA; the key
never leaves the machine.`,
		Example: `  patchnet cert request --role supernode --zone acme --out /etc/patchnet/node
  patchnet cert request --role agent --zone acme --out node1 --key-type ecdsa-p256`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Role, err = trust.ParseRole(role); err != nil {
				return err
			}
			if o.KeyType, err = trust.ParseKeyAlgorithm(keyType); err != nil {
				return err
			}
			keyPath, csrPath, err := ca.Request(out, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (keep it private) and %s (send it to the zone CA)\n", keyPath, csrPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&role, "role", "", "agent, supernode or publisher (required)")
	f.StringVar(&o.Zone, "zone", "", "zone to join (required)")
	f.StringVar(&out, "out", "", "directory for node.key and node.csr (required)")
	f.StringVar(&keyType, "key-type", string(trust.KeyEd25519), "key algorithm: ed25519 or ecdsa-p256")
	for _, n := range []string{"role", "zone", "out"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

func newCertVerifyCmd() *cobra.Command {
	var o ca.VerifyOptions
	cmd := &cobra.Command{
		Use:   "verify --root ROOTCRT... [--crl CRL...] CERT",
		Short: "Verify a certificate as an agent would; exit 0 and say ok, or name the reason",
		Long: `Verify CERT (the leaf, optionally followed by its zone CA as 'ca sign' writes
it) against the pinned roots and CRLs given: chain, zone, role, peer ID,
validity and revocation. Prints "ok: role …, zone …, peer …" and exits 0, or
exits non-zero naming the reason (e.g. "revoked by zone CA acme at …").`,
		Example: `  patchnet cert verify --root root/root.crt node1/node.crt
  patchnet cert verify --root root/root.crt --root partner-root.crt --crl zone-acme/zone.crl node1/node.crt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := ca.VerifyFile(args[0], o)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: role %s, zone %s, peer %s, valid until %s\n",
				rolesOf(id), id.Zone, id.PeerID, id.NotAfter.UTC().Format("2006-01-02T15:04:05Z"))
			return nil
		},
	}
	f := cmd.Flags()
	f.SetNormalizeFunc(normalizeFlag)
	f.StringArrayVar(&o.Roots, "root", nil, "pinned root CA certificate file (repeatable, at least one)")
	f.StringArrayVar(&o.CRLs, "crl", nil, "CRL file, PEM or DER (repeatable)")
	f.BoolVar(&o.RequireCRL, "require-crl", false, "fail if the zone CA's CRL is not among --crl")
	_ = cmd.MarkFlagRequired("root")
	return cmd
}

func rolesOf(id trust.Identity) string {
	s := ""
	for i, r := range id.Roles {
		if i > 0 {
			s += "+"
		}
		s += string(r)
	}
	return s
}

func newCertShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show CERT",
		Short: "Show what a certificate file holds: role, zone, peer ID, validity",
		Long: `Print each certificate in CERT: kind, subject, zone, roles, peer ID, key type,
serial, validity and SHA-256 fingerprint. It verifies nothing (see cert verify)
and never reads or prints private keys.`,
		Example: `  patchnet cert show node1/node.crt
  patchnet cert show root/root.crt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			certs, err := trust.ReadCertificatesFile(args[0])
			if err != nil {
				return err
			}
			for i, c := range certs {
				if i > 0 {
					fmt.Fprintln(cmd.OutOrStdout())
				}
				fmt.Fprint(cmd.OutOrStdout(), ca.Describe(c))
			}
			return nil
		},
	}
}
