package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/patchnet/patchnet/node"
)

// PodFiles are the files a node pod mounts from the zone's ConfigMaps and
// Secrets, by their path in the pod (a node's own key aside).
func (z *Zone) PodFiles() map[string][]byte {
	f := map[string][]byte{
		pkiDir + "/root.crt": z.RootCert, pkiDir + "/root.crl": z.RootCRL, pkiDir + "/zone.crl": z.ZoneCRL,
		vendorDir + "/vendor.asc": z.VendorKey,
	}
	if z.PSK != nil {
		f[pskFile] = z.PSK
	}
	return f
}

// CheckConfig decodes a node's config file as the daemon does and
// validates it with files (pod path → content) in place: each path the
// config names under /etc/patchnet is read from files, written into a
// scratch directory the check points the config at.
func CheckConfig(data []byte, files map[string][]byte) error {
	cfg, err := node.DecodeConfig(data)
	if err != nil {
		return fmt.Errorf("decoding the config: %w", err)
	}
	dir, err := os.MkdirTemp("", "patchnet-check-")
	if err != nil {
		return fmt.Errorf("checking the config: %w", err)
	}
	defer os.RemoveAll(dir)
	var missing []string
	remap := func(p string) string {
		if !strings.HasPrefix(p, "/etc/patchnet/") {
			return p
		}
		data, ok := files[p]
		if !ok {
			missing = append(missing, p)
			return p
		}
		local := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(local), 0o700); err == nil {
			os.WriteFile(local, data, 0o600)
		}
		return local
	}
	for i := range cfg.Roots {
		cfg.Roots[i] = remap(cfg.Roots[i])
	}
	for i := range cfg.CRL {
		cfg.CRL[i] = remap(cfg.CRL[i])
	}
	if cfg.Overlay.PrivateZone.PSKFile != "" {
		cfg.Overlay.PrivateZone.PSKFile = remap(cfg.Overlay.PrivateZone.PSKFile)
	}
	for name, p := range cfg.CoSign.Publishers {
		for i := range p.Keys {
			p.Keys[i] = remap(p.Keys[i])
		}
		cfg.CoSign.Publishers[name] = p
	}
	if len(missing) > 0 {
		return fmt.Errorf("the config names %s, which no ConfigMap or Secret mounts", strings.Join(missing, ", "))
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("validating the config: %w", err)
	}
	return nil
}
