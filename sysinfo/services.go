package sysinfo

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// procNetFiles are the socket tables read, with their protocol and family.
var procNetFiles = []struct{ name, proto, family string }{
	{"proc/net/tcp", "tcp", "ipv4"},
	{"proc/net/tcp6", "tcp", "ipv6"},
	{"proc/net/udp", "udp", "ipv4"},
	{"proc/net/udp6", "udp", "ipv6"},
}

// Kernel socket states (include/net/tcp_states.h) as /proc/net shows them.
const (
	tcpListen = 0x0A
	tcpClose  = 0x07 // an unconnected UDP socket
)

// Socket is one row of a /proc/net/{tcp,udp}[6] table.
type Socket struct {
	Local, Remote netip.AddrPort
	State         uint8
	Inode         uint64
}

// ParseProcNet parses a /proc/net/tcp, tcp6, udp or udp6 table. Addresses
// are hex in the kernel's byte order, which is this machine's.
func ParseProcNet(r io.Reader) ([]Socket, error) {
	lr := newLineReader(r, "/proc/net socket table")
	var out []Socket
	for {
		line, ok := lr.next()
		if !ok {
			break
		}
		f := bytes.Fields(line)
		if lr.n == 1 {
			if len(f) == 0 || string(f[0]) != "sl" {
				return nil, lr.errorf("header does not start with \"sl\"")
			}
			continue
		}
		if len(out) >= maxSockets {
			return nil, lr.errorf("more than %d sockets", maxSockets)
		}
		s, err := parseSocketLine(f)
		if err != nil {
			return nil, lr.errorf("%v", err)
		}
		out = append(out, s)
	}
	if err := lr.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseSocketLine reads "sl local remote st ... uid timeout inode".
func parseSocketLine(f [][]byte) (Socket, error) {
	if len(f) < 10 {
		return Socket{}, fmt.Errorf("%d fields, want at least 10", len(f))
	}
	var s Socket
	var err error
	if s.Local, err = parseHexAddrPort(f[1]); err != nil {
		return s, fmt.Errorf("local address: %w", err)
	}
	if s.Remote, err = parseHexAddrPort(f[2]); err != nil {
		return s, fmt.Errorf("remote address: %w", err)
	}
	st, err := strconv.ParseUint(string(f[3]), 16, 8)
	if err != nil {
		return s, fmt.Errorf("state %q: %w", f[3], err)
	}
	s.State = uint8(st)
	if s.Inode, err = strconv.ParseUint(string(f[9]), 10, 64); err != nil {
		return s, fmt.Errorf("inode %q: %w", f[9], err)
	}
	return s, nil
}

// parseHexAddrPort reads "0100007F:0277": the address as 32-bit words in
// host byte order, the port in hex.
func parseHexAddrPort(b []byte) (netip.AddrPort, error) {
	a, p, ok := bytes.Cut(b, []byte(":"))
	if !ok || (len(a) != 8 && len(a) != 32) {
		return netip.AddrPort{}, fmt.Errorf("%q is not ADDR:PORT in hex", clip(b))
	}
	raw := make([]byte, len(a)/2)
	if _, err := hex.Decode(raw, a); err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %w", clip(b), err)
	}
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(raw[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	port, err := strconv.ParseUint(string(p), 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q: %w", p, err)
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// listening reports whether a socket accepts connections or datagrams from
// anyone: a TCP listener, or a UDP socket bound but not connected.
func (s Socket) listening(proto string) bool {
	if proto == "tcp" {
		return s.State == tcpListen
	}
	return s.State == tcpClose && s.Remote.Port() == 0 && s.Remote.Addr().IsUnspecified()
}

// collectServices lists the listening sockets in root's /proc/net with their
// service names and owning processes. A root without /proc/net is absence.
func collectServices(ctx context.Context, root *os.Root) ([]Service, error) {
	var out []Service
	inodes := map[uint64][]int{} // inode → indexes in out
	for _, t := range procNetFiles {
		socks, err := readProcNet(root, t.name)
		if isNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, s := range socks {
			if !s.listening(t.proto) {
				continue
			}
			inodes[s.Inode] = append(inodes[s.Inode], len(out))
			out = append(out, Service{Protocol: t.proto, Family: t.family,
				Address: s.Local.Addr().String(), Port: int(s.Local.Port())})
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	names := readServiceNames(root)
	for i := range out {
		out[i].Name = names[strconv.Itoa(out[i].Port)+"/"+out[i].Protocol]
	}
	if err := attachProcesses(ctx, root, inodes, out); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Service) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port),
			cmp.Compare(a.Family, b.Family), cmp.Compare(a.Address, b.Address))
	})
	return out, nil
}

func readProcNet(root *os.Root, name string) ([]Socket, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	socks, err := ParseProcNet(f)
	if err != nil {
		return nil, fmt.Errorf("reading /%s: %w", name, err)
	}
	return socks, nil
}

// readServiceNames maps "port/proto" to the first name /etc/services gives
// it. A line that is not "name port/proto" is skipped: the file is the
// administrator's, and a typo there should not cost the inventory.
func readServiceNames(root *os.Root) map[string]string {
	names := map[string]string{}
	f, err := root.Open("etc/services")
	if err != nil {
		return names
	}
	defer f.Close()
	lr := newLineReader(f, "/etc/services")
	for {
		line, ok := lr.next()
		if !ok {
			return names
		}
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(string(line))
		if len(fields) < 2 || !strings.Contains(fields[1], "/") {
			continue
		}
		if _, ok := names[fields[1]]; !ok {
			names[fields[1]] = fields[0]
		}
	}
}

// attachProcesses finds each socket inode among the open files of root's
// processes, in ascending pid order (the order /proc lists them), so the
// first owner found is the lowest pid — a forking server's parent — and the
// scan stops once every socket has one. Processes whose fd directory is
// unreadable (another user's, without privilege) leave their sockets
// without a process: not an error.
func attachProcesses(ctx context.Context, root *os.Root, inodes map[uint64][]int, out []Service) error {
	proc, err := root.Open("proc")
	if err != nil {
		return nil
	}
	defer proc.Close()
	names, err := proc.Readdirnames(-1)
	if err != nil {
		return nil
	}
	pids := make([]int, 0, len(names))
	for _, name := range names {
		if pid, err := strconv.Atoi(name); err == nil {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	unowned := len(out)
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("finding socket owners: %w", err)
		}
		unowned -= attachProcess(root, proc, pid, inodes, out)
		if unowned == 0 {
			break
		}
	}
	return nil
}

// attachProcess gives pid's wanted sockets that have no owner yet to pid
// and returns how many it took. The fd directory is opened relative to the
// already-open /proc (the path has no symlinks: a pid directory, then
// "fd" opened with O_NOFOLLOW), and its links read with readlinkat: two
// syscalls per descriptor fewer than walking the path from root each time.
func attachProcess(root *os.Root, proc *os.File, pid int, inodes map[uint64][]int, out []Service) int {
	p := strconv.Itoa(pid)
	fd, err := unix.Openat(int(proc.Fd()), p+"/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	dir := os.NewFile(uintptr(fd), "/proc/"+p+"/fd")
	defer dir.Close()
	fds, err := dir.Readdirnames(-1)
	if err != nil {
		return 0
	}
	buf := make([]byte, 64)
	taken := 0
	for _, name := range fds {
		n, err := unix.Readlinkat(fd, name, buf)
		ino, ok := socketInode(buf[:max(n, 0)])
		if err != nil || !ok {
			continue
		}
		for _, i := range inodes[ino] {
			if out[i].PID == 0 {
				out[i].PID, out[i].Process = pid, readTrimmed(root, "proc/"+p+"/comm")
				taken++
			}
		}
	}
	return taken
}

// socketInode reads the inode of a "socket:[12345]" link target.
func socketInode(link []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(link, []byte("socket:["))
	if !ok || len(rest) < 2 || rest[len(rest)-1] != ']' {
		return 0, false
	}
	ino, err := strconv.ParseUint(string(rest[:len(rest)-1]), 10, 64)
	return ino, err == nil
}

// readDirNames lists a directory under root without sorting or stat calls.
func readDirNames(root *os.Root, name string) ([]string, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
