// Package tomlconf reads patchnet's TOML configuration files strictly (a
// key no field takes is an error, so a typo is not silently ignored) and
// reports a problem with the file, line and column it is at. Every TOML
// loader of the project goes through it, so all report alike.
package tomlconf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/patchnet/patchnet/internal/fsutil"
)

// Load reads the file at path, of at most limit bytes, and decodes it into
// v, which holds the defaults for every key the file leaves out.
func Load(path string, limit int64, v any) error {
	data, err := Read(path, limit)
	if err != nil {
		return err
	}
	return Decode(path, data, v)
}

// Read reads the file at path, of at most limit bytes, for a caller that
// decodes it more than once.
func Read(path string, limit int64) ([]byte, error) {
	data, err := fsutil.ReadFile(path, limit)
	if errors.Is(err, fsutil.ErrTooLarge) {
		return nil, fmt.Errorf("reading config %s: more than %d bytes: %w", path, limit, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return data, nil
}

// Decode decodes data, the content of the file named name ("" when it has
// none), into v over the values v already holds. A syntax error, a value
// of the wrong type or an unknown key is reported as
// "config NAME line L column C: …", naming the offending key if any.
func Decode(name string, data []byte, v any) error {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		errs := make([]error, len(strict.Errors))
		for i := range strict.Errors {
			e := &strict.Errors[i]
			errs[i] = at(name, e, "unknown key "+keyText(e.Key()))
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if k := de.Key(); len(k) > 0 {
			msg = "key " + keyText(k) + ": " + msg
		}
		return at(name, de, msg)
	}
	return fmt.Errorf("%s: %w", where(name), err)
}

// PositionError is a problem at a line and column of a config file.
type PositionError struct {
	// File is the file's name; "" when the data came from elsewhere.
	File string
	// Line and Column locate the problem, counting from 1.
	Line, Column int
	// Msg says what is wrong there.
	Msg string
	// Err is go-toml's error.
	Err *toml.DecodeError
}

// Error is "config FILE line L column C: MSG".
func (e *PositionError) Error() string {
	return fmt.Sprintf("%s line %d column %d: %s", where(e.File), e.Line, e.Column, e.Msg)
}

// Unwrap is go-toml's error.
func (e *PositionError) Unwrap() error { return e.Err }

// at is de's position in the file name, with msg.
func at(name string, de *toml.DecodeError, msg string) *PositionError {
	line, col := de.Position()
	return &PositionError{File: name, Line: line, Column: col, Msg: msg, Err: de}
}

// keyText is a key as the file writes it: its parts joined by dots.
func keyText(k toml.Key) string { return strings.Join(k, ".") }

// where names the file for a message.
func where(name string) string {
	if name == "" {
		return "config"
	}
	return "config " + name
}
