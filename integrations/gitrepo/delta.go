package gitrepo

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// deltaSizes decodes the header of a git delta: the base's size and the result's, and the
// commands after them.
func deltaSizes(delta []byte) (base, result uint64, cmds []byte, err error) {
	base, n := binary.Uvarint(delta)
	if n <= 0 {
		return 0, 0, nil, packfile.ErrInvalidDelta
	}
	result, m := binary.Uvarint(delta[n:])
	if m <= 0 {
		return 0, 0, nil, packfile.ErrInvalidDelta
	}
	return base, result, delta[n+m:], nil
}

// maxPrealloc bounds what patchInto reserves before a delta's commands have produced anything.
const maxPrealloc = 64 << 20

// patchInto applies delta to base and writes the result into dst's storage (grown when too
// small). It does what go-git's packfile.PatchDelta does, with the same checks, because
// PatchDelta cannot write into a caller's buffer: it returns a fresh bytes.Buffer that grows by
// doubling past 64 KiB, which on a long history (3 GiB of blob versions on the bench's C
// project) is gigabytes of garbage and up to twice each object's size held. The walk recycles
// its buffers instead.
func patchInto(dst, base, delta []byte, h plumbing.Hash) ([]byte, error) {
	bad := func() ([]byte, error) { return nil, fmt.Errorf("apply delta %s: %w", h, packfile.ErrInvalidDelta) }
	srcSz, size, cmds, err := deltaSizes(delta)
	if err != nil || srcSz != uint64(len(base)) || size > 1<<40 {
		return bad()
	}
	// The header's size is the repository's word, not a fact: a crafted delta may claim a
	// terabyte. Space for more than maxPrealloc grows as the commands really produce bytes.
	out := slices.Grow(dst[:0], int(min(size, maxPrealloc)))
	for len(cmds) > 0 {
		cmd := cmds[0]
		cmds = cmds[1:]
		switch {
		case cmd&0x80 != 0: // copy from the base: offset and size bytes as the low bits say
			var off, n uint64
			for i := range 4 {
				if cmd&(1<<i) != 0 {
					if len(cmds) == 0 {
						return bad()
					}
					off |= uint64(cmds[0]) << (8 * i)
					cmds = cmds[1:]
				}
			}
			for i := range 3 {
				if cmd&(0x10<<i) != 0 {
					if len(cmds) == 0 {
						return bad()
					}
					n |= uint64(cmds[0]) << (8 * i)
					cmds = cmds[1:]
				}
			}
			if n == 0 {
				n = 0x10000
			}
			if off+n > uint64(len(base)) || uint64(len(out))+n > size {
				return bad()
			}
			out = append(out, base[off:off+n]...)
		case cmd != 0: // insert the next cmd bytes of the delta
			n := int(cmd)
			if n > len(cmds) || uint64(len(out)+n) > size {
				return bad()
			}
			out = append(out, cmds[:n]...)
			cmds = cmds[n:]
		default:
			return nil, fmt.Errorf("apply delta %s: %w", h, packfile.ErrDeltaCmd)
		}
	}
	if uint64(len(out)) != size {
		return bad()
	}
	return out, nil
}

// buffers is one reader's free list of object buffers. A walk worker holds only the objects on
// its path through a delta family, so a handful of buffers, reused, serve a whole pass.
type buffers struct{ free [][]byte }

// maxFree is how many idle buffers a worker keeps, and maxPooled the largest it keeps.
const (
	maxFree   = 32
	maxPooled = 64 << 20
)

// get returns a buffer of length n: the smallest idle one that fits, or a new one.
func (b *buffers) get(n int) []byte {
	best := -1
	for i, f := range b.free {
		if cap(f) >= n && (best < 0 || cap(f) < cap(b.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]byte, n, n+n/8)
	}
	f := b.free[best]
	b.free[best] = b.free[len(b.free)-1]
	b.free = b.free[:len(b.free)-1]
	return f[:n]
}

// put gives a buffer back; nothing may use it afterwards.
func (b *buffers) put(f []byte) {
	if cap(f) == 0 || cap(f) > maxPooled {
		return
	}
	if len(b.free) == maxFree {
		small := 0
		for i := range b.free {
			if cap(b.free[i]) < cap(b.free[small]) {
				small = i
			}
		}
		if cap(b.free[small]) >= cap(f) {
			return
		}
		b.free[small] = f
		return
	}
	b.free = append(b.free, f)
}
