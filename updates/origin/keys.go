package origin

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// armorKeyHeader starts an armored public key file.
var armorKeyHeader = []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")

// loadKeys reads every pinned key file into one key ring.
func loadKeys(paths []string) (openpgp.EntityList, error) {
	if len(paths) > MaxKeys {
		return nil, fmt.Errorf("keys: %d files exceed %d", len(paths), MaxKeys)
	}
	var ring openpgp.EntityList
	for i, path := range paths {
		keys, err := readKeyFile(path)
		if err != nil {
			return nil, fmt.Errorf("keys[%d] %q: %w", i, clip(path), err)
		}
		ring = append(ring, keys...)
	}
	return ring, nil
}

// readKeyFile reads one armored or binary OpenPGP public key file holding
// at least one key.
func readKeyFile(path string) (openpgp.EntityList, error) {
	data, err := readBounded(path, MaxKeyFileBytes)
	if err != nil {
		return nil, err
	}
	var keys openpgp.EntityList
	if bytes.Contains(data, armorKeyHeader) {
		keys, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		keys, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("reading OpenPGP public keys: %w", err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no OpenPGP public key in it")
	}
	return keys, nil
}

// readBounded reads a whole file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return data, nil
}
