package sysinfo

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCollectFindsOwnListeners opens a real TCP listener and a real UDP
// socket on loopback and expects the inventory of this machine to list
// both, owned by this process.
func TestCollectFindsOwnListeners(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Skip("no /proc on this system")
	}
	inv := collectRoot(t, "/")
	for _, want := range []Service{
		{Protocol: "tcp", Family: "ipv4", Address: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port},
		{Protocol: "udp", Family: "ipv4", Address: "127.0.0.1", Port: pc.LocalAddr().(*net.UDPAddr).Port},
	} {
		want.Process, want.PID = strings.TrimSpace(string(comm)), os.Getpid()
		found := false
		for _, s := range inv.Services {
			if s.Protocol == want.Protocol && s.Port == want.Port {
				s.Name = "" // whatever /etc/services calls a random port
				if diff := cmp.Diff(want, s); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				found = true
			}
		}
		if !found {
			t.Errorf("%s port %d not in services %+v", want.Protocol, want.Port, inv.Services)
		}
	}
}

// TestServicesFromCapturedProcNet reads /proc/net tables captured on the
// build machine (listeners on 22, 25, 443, 8080 and 2024, an established
// connection, UDP on 53, 123 and 5353 and one connected UDP socket) under a
// fixture root with an /etc/services, where no process owns the sockets.
func TestServicesFromCapturedProcNet(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"tcp", "tcp6", "udp", "udp6"} {
		copyFile(t, filepath.Join("testdata/proc-net", f), filepath.Join(root, "proc/net", f))
	}
	writeFile(t, filepath.Join(root, "etc/services"), []byte(`# Network services, Internet style
ssh		22/tcp				# SSH Remote Login Protocol
smtp		25/tcp		mail
domain		53/tcp				# Domain Name Server
domain		53/udp
ntp		123/udp				# Network Time Protocol
https		443/tcp				# http protocol over TLS/SSL
mdns		5353/udp			# Multicast DNS
http-alt	8080/tcp	webcache	# WWW caching service
this line is not a service
`))
	inv := collectRoot(t, root)
	want := []Service{
		{Protocol: "tcp", Family: "ipv4", Address: "127.0.0.1", Port: 22, Name: "ssh"},
		{Protocol: "tcp", Family: "ipv6", Address: "::1", Port: 25, Name: "smtp"},
		{Protocol: "tcp", Family: "ipv6", Address: "::", Port: 443, Name: "https"},
		{Protocol: "tcp", Family: "ipv4", Address: "0.0.0.0", Port: 2024},
		{Protocol: "tcp", Family: "ipv4", Address: "0.0.0.0", Port: 8080, Name: "http-alt"},
		{Protocol: "udp", Family: "ipv4", Address: "127.0.0.1", Port: 53, Name: "domain"},
		{Protocol: "udp", Family: "ipv6", Address: "::", Port: 123, Name: "ntp"},
		{Protocol: "udp", Family: "ipv4", Address: "0.0.0.0", Port: 5353, Name: "mdns"},
	}
	if diff := cmp.Diff(want, inv.Services); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseProcNet(t *testing.T) {
	f, err := os.Open("testdata/proc-net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	socks, err := ParseProcNet(f)
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort
	want := []Socket{
		{Local: ap("127.0.0.1:22"), Remote: ap("0.0.0.0:0"), State: tcpListen, Inode: 51139},
		{Local: ap("0.0.0.0:2024"), Remote: ap("0.0.0.0:0"), State: tcpListen, Inode: 47},
		{Local: ap("0.0.0.0:8080"), Remote: ap("0.0.0.0:0"), State: tcpListen, Inode: 51140},
		{Local: ap("127.0.0.1:54616"), Remote: ap("127.0.0.1:8080"), State: 1, Inode: 51143},
		{Local: ap("127.0.0.1:8080"), Remote: ap("127.0.0.1:54616"), State: 1, Inode: 0},
	}
	if diff := cmp.Diff(want, socks, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseProcNetMalformed(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	for _, tc := range []struct{ name, in, wantMsg string }{
		{"no header", "   0: 0100007F:0016 00000000:0000 0A 0 0 0 0 0 51139\n", "line 1: header"},
		{"few fields", header + "   0: 0100007F:0016 00000000:0000 0A\n", "line 2: 4 fields"},
		{"bad address", header + "   0: 0100007Z:0016 00000000:0000 0A 0 0 0 0 0 1\n", "line 2: local address"},
		{"odd length", header + "   0: 0100007:0016 00000000:0000 0A 0 0 0 0 0 1\n", "not ADDR:PORT"},
		{"bad port", header + "   0: 0100007F:FFFFF 00000000:0000 0A 0 0 0 0 0 1\n", "port"},
		{"bad inode", header + "   0: 0100007F:0016 00000000:0000 0A 0 0 0 0 0 -1\n", "inode"},
		{"binary", header + "\x00\n", "binary data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			socks, err := ParseProcNet(strings.NewReader(tc.in))
			assertMalformed(t, socks, err, tc.wantMsg)
		})
	}
}
