package tomlconf_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/internal/fsutil"
	"github.com/patchnet/patchnet/internal/tomlconf"
)

type table struct {
	Name string `toml:"name"`
	N    int    `toml:"n"`
}

type config struct {
	Zone  string `toml:"zone"`
	Count int    `toml:"count"`
	Table table  `toml:"table"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, file, data string
		want             string // the whole message; "" for no error
		line, column     int
	}{
		{"valid", "a.toml", "zone = \"acme\"\n[table]\nn = 3\n", "", 0, 0},
		{"syntax error", "a.toml", "zone = \"acme\"\ncount = \n", "config a.toml line 2 column 9: unexpected character U+000A at start of value", 2, 9},
		{"unterminated string", "a.toml", "zone = \"acme\n", "config a.toml line 1 column 13: basic strings cannot have new lines", 1, 13},
		{"wrong type", "a.toml", "zone = \"acme\"\n[table]\nn = \"three\"\n", "config a.toml line 3 column 5: key table.n: cannot decode TOML string", 3, 5},
		{"unknown key", "a.toml", "zone = \"acme\"\n\n[table]\nnmae = \"x\"\n", "config a.toml line 4 column 1: unknown key table.nmae", 4, 1},
		{"no file name", "", "count = [\n", "config line 1 column 10: array is incomplete", 1, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config{Zone: "default", Count: 7}
			err := tomlconf.Decode(tt.file, []byte(tt.data), &cfg)
			if tt.want == "" {
				if err != nil || cfg.Zone != "acme" || cfg.Count != 7 || cfg.Table.N != 3 {
					t.Fatalf("Decode = %v, %+v; want the file over the defaults", err, cfg)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Decode = %v, want an error starting %q", err, tt.want)
			}
			var pe *tomlconf.PositionError
			if !errors.As(err, &pe) || pe.Line != tt.line || pe.Column != tt.column || pe.File != tt.file {
				t.Errorf("position = %+v, want %s line %d column %d", pe, tt.file, tt.line, tt.column)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good, bad, big := filepath.Join(dir, "good.toml"), filepath.Join(dir, "bad.toml"), filepath.Join(dir, "big.toml")
	os.WriteFile(good, []byte("zone = \"acme\"\n"), 0o644)
	os.WriteFile(bad, []byte("zone = acme\n"), 0o644)
	os.WriteFile(big, []byte(strings.Repeat("# comment\n", 100)), 0o644)
	var cfg config
	if err := tomlconf.Load(good, 1<<10, &cfg); err != nil || cfg.Zone != "acme" {
		t.Errorf("Load(good) = %v, %+v", err, cfg)
	}
	if err := tomlconf.Load(bad, 1<<10, &cfg); err == nil || !strings.HasPrefix(err.Error(), "config "+bad+" line 1 column 8: ") {
		t.Errorf("Load(bad) = %v, want the file, line and column", err)
	}
	if err := tomlconf.Load(big, 100, &cfg); !errors.Is(err, fsutil.ErrTooLarge) || !strings.Contains(err.Error(), big) {
		t.Errorf("Load(big) = %v, want ErrTooLarge naming the file", err)
	}
	if err := tomlconf.Load(filepath.Join(dir, "missing.toml"), 1<<10, &cfg); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("Load(missing) = %v, want an error naming the file", err)
	}
}
