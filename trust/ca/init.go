package ca

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/patchnet/patchnet/trust"
)

// RootOptions shape a new root CA.
type RootOptions struct {
	// Name is the root's common name. Default "patchnet root CA".
	Name string
	// Days is its lifetime. Default DefaultRootDays (3650), at most
	// MaxRootDays.
	Days int
	// KeyType is the key algorithm. Default ed25519.
	KeyType trust.KeyAlgorithm
	// Clock is the time source. Default the system clock.
	Clock trust.Clock
}

// DefaultRootOptions are RootOptions with every default filled in.
func DefaultRootOptions() RootOptions {
	return RootOptions{Name: "patchnet root CA", Days: DefaultRootDays, KeyType: trust.KeyEd25519, Clock: trust.SystemClock{}}
}

// Validate checks the options; errors name the field and value.
func (o RootOptions) Validate() error {
	if o.Name == "" || len(o.Name) > 64 {
		return fmt.Errorf("RootOptions.Name %q: want 1 to 64 characters", o.Name)
	}
	if o.Days < 1 || o.Days > MaxRootDays {
		return fmt.Errorf("RootOptions.Days %d out of range 1..%d", o.Days, MaxRootDays)
	}
	if _, err := trust.ParseKeyAlgorithm(string(o.KeyType)); err != nil {
		return fmt.Errorf("RootOptions.KeyType: %w", err)
	}
	return nil
}

// InitRoot creates a root CA in dir (created 0700 if missing): root.key,
// root.crt and state.json. It refuses to overwrite an existing CA.
func InitRoot(dir string, o RootOptions) (*CA, error) {
	fillRoot(&o)
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("creating root CA: %w", err)
	}
	if err := prepareDir(dir, RootKeyFile, RootCertFile, stateFile); err != nil {
		return nil, fmt.Errorf("creating root CA: %w", err)
	}
	key, err := trust.GenerateKey(o.KeyType)
	if err != nil {
		return nil, err
	}
	root, err := NewRoot(key, o.Name, ValidityFrom(o.Clock.Now(), o.Days))
	if err != nil {
		return nil, err
	}
	c := &CA{Dir: dir, Authority: *root, State: State{Kind: KindRoot}, clock: o.Clock}
	if err := c.writeMaterial(RootKeyFile, RootCertFile); err != nil {
		return nil, fmt.Errorf("creating root CA: %w", err)
	}
	// A first, empty root.crl: agents count no signature until they hold
	// current CRLs of the signer's zone CA and of its root.
	if _, err := c.IssueCRL(DefaultRootCRLDays * 24 * time.Hour); err != nil {
		return nil, err
	}
	return c, nil
}

func fillRoot(o *RootOptions) {
	d := DefaultRootOptions()
	if o.Name == "" {
		o.Name = d.Name
	}
	if o.Days == 0 {
		o.Days = d.Days
	}
	if o.KeyType == "" {
		o.KeyType = d.KeyType
	}
	if o.Clock == nil {
		o.Clock = d.Clock
	}
}

// prepareDir creates dir 0700 and checks none of names exists in it.
func prepareDir(dir string, names ...string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite a CA", filepath.Join(dir, n))
		}
	}
	return nil
}

// writeMaterial writes key, certificate and state of a new CA.
func (c *CA) writeMaterial(keyFile, certFile string) error {
	keyPEM, err := trust.MarshalPrivateKeyPEM(c.Key)
	if err != nil {
		return err
	}
	if err := writeNew(filepath.Join(c.Dir, keyFile), keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeNew(filepath.Join(c.Dir, certFile), trust.EncodeCertificatesPEM(c.Cert), 0o644); err != nil {
		return err
	}
	return saveState(c.Dir, c.State)
}

// ZoneOptions shape a new zone CA.
type ZoneOptions struct {
	// Days is its lifetime. Default DefaultZoneDays (1825), at most
	// MaxZoneDays and never past the root's notAfter.
	Days int
	// KeyType is the key algorithm. Default ed25519.
	KeyType trust.KeyAlgorithm
	// Roles are the roles it may grant. Default all three.
	Roles []trust.Role
	// CRLDays is the freshness of the first, empty CRL written with it.
	// Default DefaultCRLDays (7).
	CRLDays int
	// Clock is the time source. Default the system clock.
	Clock trust.Clock
}

// DefaultZoneOptions are ZoneOptions with every default filled in.
func DefaultZoneOptions() ZoneOptions {
	return ZoneOptions{
		Days: DefaultZoneDays, KeyType: trust.KeyEd25519, Roles: slices.Clone(trust.AllRoles),
		CRLDays: DefaultCRLDays, Clock: trust.SystemClock{},
	}
}

// Validate checks the options; errors name the field and value.
func (o ZoneOptions) Validate() error {
	if o.Days < 1 || o.Days > MaxZoneDays {
		return fmt.Errorf("ZoneOptions.Days %d out of range 1..%d", o.Days, MaxZoneDays)
	}
	if o.CRLDays < 1 || o.CRLDays > MaxCRLDays {
		return fmt.Errorf("ZoneOptions.CRLDays %d out of range 1..%d", o.CRLDays, MaxCRLDays)
	}
	if _, err := trust.ParseKeyAlgorithm(string(o.KeyType)); err != nil {
		return fmt.Errorf("ZoneOptions.KeyType: %w", err)
	}
	if len(o.Roles) == 0 {
		return errors.New("ZoneOptions.Roles: at least one role")
	}
	for _, r := range o.Roles {
		if !r.Valid() {
			return fmt.Errorf("ZoneOptions.Roles: unknown role %q", r)
		}
	}
	return nil
}

func fillZone(o *ZoneOptions) {
	d := DefaultZoneOptions()
	if o.Days == 0 {
		o.Days = d.Days
	}
	if o.KeyType == "" {
		o.KeyType = d.KeyType
	}
	if len(o.Roles) == 0 {
		o.Roles = d.Roles
	}
	if o.CRLDays == 0 {
		o.CRLDays = d.CRLDays
	}
	if o.Clock == nil {
		o.Clock = d.Clock
	}
}

// InitZone creates a zone CA for zone in outDir, signed by the root CA in
// rootDir: zone.key, zone.crt, state.json and a first (empty) zone.crl, so
// verifiers have a fresh CRL from the start. The root records the zone CA
// among its issued certificates.
func InitZone(rootDir, zone, outDir string, o ZoneOptions) (*CA, error) {
	fillZone(&o)
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("creating zone CA: %w", err)
	}
	if err := trust.ValidateZoneName(zone); err != nil {
		return nil, fmt.Errorf("creating zone CA: %w", err)
	}
	root, err := Open(rootDir)
	if err != nil {
		return nil, err
	}
	if root.State.Kind != KindRoot {
		return nil, fmt.Errorf("creating zone CA: %s holds a %s CA, not a root", rootDir, root.State.Kind)
	}
	root.clock = o.Clock
	if err := prepareDir(outDir, ZoneKeyFile, ZoneCertFile, stateFile); err != nil {
		return nil, fmt.Errorf("creating zone CA: %w", err)
	}
	key, err := trust.GenerateKey(o.KeyType)
	if err != nil {
		return nil, err
	}
	cert, err := root.NewZone(key.Public(), zone, o.Roles, ValidityFrom(o.Clock.Now(), o.Days))
	if err != nil {
		return nil, err
	}
	if err := root.update(func(s *State) error { s.Issued = append(s.Issued, record(cert)); return nil }); err != nil {
		return nil, fmt.Errorf("recording zone CA in %s: %w", rootDir, err)
	}
	c := &CA{Dir: outDir, Authority: Authority{Cert: cert, Key: key}, clock: o.Clock,
		State: State{Kind: KindZone, Zone: zone, Roles: o.Roles}}
	if err := c.writeMaterial(ZoneKeyFile, ZoneCertFile); err != nil {
		return nil, fmt.Errorf("creating zone CA: %w", err)
	}
	if _, err := c.IssueCRL(time.Duration(o.CRLDays) * 24 * time.Hour); err != nil {
		return nil, err
	}
	return c, nil
}
