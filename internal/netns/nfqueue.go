package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// The nfnetlink_queue protocol (linux/netfilter/nfnetlink_queue.h): the
// few messages a delayer needs — bind a queue, copy packet metadata only,
// receive packet ids, give accept verdicts.
const (
	nfqnlMsgPacket  = 0
	nfqnlMsgVerdict = 1
	nfqnlMsgConfig  = 2

	nfqaPacketHdr  = 1 // in a packet message
	nfqaVerdictHdr = 2 // in a verdict message

	nfqaCfgCmd      = 1
	nfqaCfgParams   = 2
	nfqaCfgQueueMax = 3
	nfqaCfgMask     = 4
	nfqaCfgFlags    = 5

	nfqnlCfgCmdBind  = 1
	nfqnlCopyMeta    = 1
	nfqaCfgFFailOpen = 1 // accept, rather than drop, when the queue is full
	nfqaCfgFGSO      = 4 // hand over GSO packets whole

	nfAccept = 1
)

// nfqueue is a netlink socket bound to one queue of the namespace it was
// opened in.
type nfqueue struct {
	fd    int
	queue uint16
	seq   uint32
}

// openNFQueue binds queue num in the calling thread's namespace, copying
// packet metadata only, failing open when maxLen packets wait.
func openNFQueue(num uint16, maxLen uint32) (*nfqueue, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("opening a netfilter netlink socket: %w", err)
	}
	q := &nfqueue{fd: fd, queue: num}
	// A full receive buffer would lose packet notices and so strand their
	// packets: make it large and keep reading past overruns.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
	unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_NO_ENOBUFS, 1)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding the netlink socket: %w", err)
	}
	flags := make([]byte, 4)
	binary.BigEndian.PutUint32(flags, nfqaCfgFFailOpen|nfqaCfgFGSO)
	maxb := make([]byte, 4)
	binary.BigEndian.PutUint32(maxb, maxLen)
	params := []byte{0, 0, 0, 0, nfqnlCopyMeta}
	for _, attrs := range [][]attr{
		{{nfqaCfgCmd, []byte{nfqnlCfgCmdBind, 0, 0, 0}}},
		{{nfqaCfgParams, params}, {nfqaCfgQueueMax, maxb}, {nfqaCfgMask, flags}, {nfqaCfgFlags, flags}},
	} {
		if err := q.request(nfqnlMsgConfig, attrs); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("configuring queue %d: %w", num, err)
		}
	}
	return q, nil
}

// attr is one netlink attribute.
type attr struct {
	typ  uint16
	data []byte
}

// message is a netlink message of the queue subsystem with attrs.
func (q *nfqueue) message(msg uint16, flags uint16, attrs []attr) []byte {
	q.seq++
	b := make([]byte, unix.NLMSG_HDRLEN, 64)
	b = append(b, unix.AF_UNSPEC, 0, byte(q.queue>>8), byte(q.queue)) // nfgenmsg, res_id big-endian
	for _, a := range attrs {
		l := 4 + len(a.data)
		b = binary.NativeEndian.AppendUint16(b, uint16(l))
		b = binary.NativeEndian.AppendUint16(b, a.typ)
		b = append(b, a.data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], unix.NFNL_SUBSYS_QUEUE<<8|msg)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(b[8:], q.seq)
	return b
}

// request sends a message asking for an acknowledgement and reads it.
func (q *nfqueue) request(msg uint16, attrs []attr) error {
	if err := unix.Sendto(q.fd, q.message(msg, unix.NLM_F_ACK, attrs), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(q.fd, buf, 0)
	if err != nil {
		return err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
			if errno := int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 {
				return unix.Errno(-errno)
			}
		}
	}
	return nil
}

// accept gives packet id its accept verdict.
func (q *nfqueue) accept(id uint32) error {
	v := make([]byte, 8)
	binary.BigEndian.PutUint32(v[0:], nfAccept)
	binary.BigEndian.PutUint32(v[4:], id)
	return unix.Sendto(q.fd, q.message(nfqnlMsgVerdict, 0, []attr{{nfqaVerdictHdr, v}}), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// receive reads the ids of the packets queued since the last call.
func (q *nfqueue) receive(buf []byte) ([]uint32, error) {
	n, _, err := unix.Recvfrom(q.fd, buf, 0)
	if err != nil {
		if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EINTR) {
			return nil, nil
		}
		return nil, err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return nil, err
	}
	var ids []uint32
	for _, m := range msgs {
		if m.Header.Type != unix.NFNL_SUBSYS_QUEUE<<8|nfqnlMsgPacket || len(m.Data) < 4 {
			continue
		}
		for b := m.Data[4:]; len(b) >= 4; {
			l := int(binary.NativeEndian.Uint16(b))
			typ := binary.NativeEndian.Uint16(b[2:]) & 0x3fff
			if l < 4 || l > len(b) {
				break
			}
			if typ == nfqaPacketHdr && l >= 8 {
				ids = append(ids, binary.BigEndian.Uint32(b[4:]))
			}
			b = b[min(len(b), (l+3)&^3):]
		}
	}
	return ids, nil
}

// close closes the socket; a blocked receive returns an error.
func (q *nfqueue) close() error { return unix.Close(q.fd) }
