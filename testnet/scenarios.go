package testnet

import "github.com/patchnet/patchnet/overlay/content"

// LateJoiners is how many agents the late-join scenario starts after the
// others installed: a fifth of the zone's, at least one. Every mode
// takes the same share.
func LateJoiners(agents int) int { return max(1, agents/5) }

// OriginEgressBound is the most the origins may serve in the content
// scenario when the agents share: each supernode's independent check of
// the artifact at the vendor (whole files) and one copy from the
// publisher as a DAG's blocks. An HTTP origin serves every agent.
func OriginEgressBound(supernodes int, size int64) int64 {
	return int64(supernodes)*size + ServedCopyBytes(size)
}

// ServedCopyBytes bounds the bytes one copy of an artifact of size bytes
// costs served over the content protocol: its leaves, the DAG's internal
// blocks and every block's framing. It is the artifact's size plus a few
// kilobytes a copy (8.4 KB for 64 MiB).
func ServedCopyBytes(size int64) int64 {
	blocks := (size + content.ChunkSize - 1) / content.ChunkSize
	total := size + blocks*blockWireBytes
	// Each level's nodes link to every block of the level below.
	for level := blocks; level > 1; {
		above := (level + content.LinksPerNode - 1) / content.LinksPerNode
		total += above*blockWireBytes + level*dagLinkBytes
		level = above
	}
	return total
}
