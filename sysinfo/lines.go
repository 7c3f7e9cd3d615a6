package sysinfo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrMalformed matches (errors.Is) every error about malformed input from
// the parsers in this package; errors.As with *ParseError gives the line.
var ErrMalformed = errors.New("malformed input")

// ParseError says where and why an input could not be parsed.
type ParseError struct {
	Format string // "dpkg status", "apk installed", "os-release", ...
	Line   int    // 1-based; 0 when the error is not about one line
	Msg    string
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("parsing %s: %s", e.Format, e.Msg)
	}
	return fmt.Sprintf("parsing %s: line %d: %s", e.Format, e.Line, e.Msg)
}

// Is makes errors.Is(err, ErrMalformed) true for every ParseError.
func (e *ParseError) Is(target error) bool { return target == ErrMalformed }

// lineReader yields the lines of a text file with their numbers, refusing
// over-long lines and binary data (a NUL byte never occurs in these files).
type lineReader struct {
	sc     *bufio.Scanner
	format string
	n      int
	err    error
}

func newLineReader(r io.Reader, format string) *lineReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4<<10), maxLineBytes) // grows to maxLineBytes on need
	return &lineReader{sc: sc, format: format}
}

// next returns the next line without its end-of-line, or false at the end
// of input or on error (see Err). The slice is valid until the next call.
func (l *lineReader) next() ([]byte, bool) {
	if l.err != nil || !l.sc.Scan() {
		return nil, false
	}
	l.n++
	line := l.sc.Bytes()
	if bytes.IndexByte(line, 0) >= 0 {
		l.err = l.errorf("binary data (NUL byte)")
		return nil, false
	}
	return line, true
}

// Err is the error that ended the lines, nil at a clean end of input.
func (l *lineReader) Err() error {
	if l.err != nil {
		return l.err
	}
	switch err := l.sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		return &ParseError{Format: l.format, Line: l.n + 1, Msg: fmt.Sprintf("line longer than %d bytes", maxLineBytes)}
	case err != nil:
		return fmt.Errorf("reading %s: %w", l.format, err)
	}
	return nil
}

// errorf makes a ParseError for the current line.
func (l *lineReader) errorf(format string, args ...any) error {
	return &ParseError{Format: l.format, Line: l.n, Msg: fmt.Sprintf(format, args...)}
}

// fieldValue checks a kept field's size and returns it as a string.
func (l *lineReader) fieldValue(name string, v []byte) (string, error) {
	if len(v) > maxFieldBytes {
		return "", l.errorf("field %s is %d bytes, more than %d", name, len(v), maxFieldBytes)
	}
	return string(v), nil
}

// stanzaParser accumulates the packages of a stanza-per-package database
// (dpkg status, apk installed), one line at a time.
type stanzaParser interface {
	add(lr *lineReader, line []byte, out *[]Package) error
	finish(lr *lineReader, out *[]Package) error
}

// parseStanzas feeds every line of r to st and returns all its packages, or
// the first error (naming its line) and no partial list.
func parseStanzas(r io.Reader, format string, st stanzaParser) ([]Package, error) {
	lr := newLineReader(r, format)
	var out []Package
	for {
		line, ok := lr.next()
		if !ok {
			break
		}
		if err := st.add(lr, line, &out); err != nil {
			return nil, err
		}
	}
	if err := lr.Err(); err != nil {
		return nil, err
	}
	if err := st.finish(lr, &out); err != nil {
		return nil, err
	}
	return out, nil
}
