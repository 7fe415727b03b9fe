package gitrepo

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
)

// chainReader resolves the pack entries a repack must store whole (their delta base is not
// kept) one delta chain at a time, into recycled buffers. pack.object allocates every
// intermediate version of a chain afresh (packfile.PatchDelta's growing buffer): on the bench's
// C project, with chains 250 deep, that was 76 MB of heap at the purge's peak. It also keeps the
// base of the last object it resolved: the kept children of a dropped object share that base,
// and each of them would otherwise resolve its whole chain again.
type chainReader struct {
	z     *inflater
	bufs  buffers
	raw   []byte // a whole pack entry, for copyEntry
	src   []byte // an entry's compressed data
	delta []byte // an inflated delta
	steps []chainStep
	memo  chainMemo
}

type chainStep struct {
	i int
	h entryHeader
}

// chainMemo is an object a chainReader resolved last as the base of another.
type chainMemo struct {
	p    *pack
	i    int
	typ  plumbing.ObjectType
	data []byte
}

// maxChain bounds a delta chain's length: git writes at most 4095 (pack.depth's limit), a
// corrupt pack may loop.
const maxChain = 1 << 14

// object returns the type and content of entry i of p. The content is the reader's until
// release gives it back.
func (c *chainReader) object(st *store, p *pack, i int) (plumbing.ObjectType, []byte, error) {
	typ, data, err := c.base(st, p, i)
	if err != nil {
		return 0, nil, err
	}
	for k := len(c.steps) - 1; k >= 0; k-- {
		if k == 0 {
			c.remember(p, c.steps[0], typ, data)
		}
		next, err := c.apply(p, c.steps[k], data)
		if err != nil {
			return 0, nil, err
		}
		c.release(data)
		data = next
	}
	return typ, data, nil
}

// base walks entry i's chain down to a whole object, or to the memo, and returns it; c.steps
// are the deltas to apply to it, the last one first.
func (c *chainReader) base(st *store, p *pack, i int) (plumbing.ObjectType, []byte, error) {
	c.steps = c.steps[:0]
	for j := i; len(c.steps) < maxChain; {
		if j != i && c.memo.p == p && c.memo.i == j && c.memo.data != nil {
			return c.memo.typ, c.memo.data, nil
		}
		h, err := p.header(j)
		if err != nil {
			return 0, nil, err
		}
		switch h.typ {
		case plumbing.OFSDeltaObject, plumbing.REFDeltaObject:
		default:
			if c.src, err = p.read(h.dataOff, p.end(j), c.src); err != nil {
				return 0, nil, err
			}
			data, err := c.z.inflateInto(c.bufs.get(int(h.size)), c.src)
			if err != nil {
				return 0, nil, fmt.Errorf("inflate %s: %w", p.entries[j].hash, err)
			}
			return h.typ, data, nil
		}
		c.steps = append(c.steps, chainStep{j, h})
		bj, ok := p.baseOf(j, h)
		if !ok {
			// A base in another pack or loose (a thin pack completed): read it the usual way.
			return st.read(h.baseHash)
		}
		j = bj
	}
	return 0, nil, errors.New("delta chain too long (a loop in a corrupt pack?)")
}

// apply applies one step's delta to base into a recycled buffer.
func (c *chainReader) apply(p *pack, s chainStep, base []byte) ([]byte, error) {
	var err error
	if c.src, err = p.read(s.h.dataOff, p.end(s.i), c.src); err != nil {
		return nil, err
	}
	if int64(cap(c.delta)) < s.h.size {
		c.delta = make([]byte, s.h.size)
	}
	delta, err := c.z.inflateInto(c.delta[:s.h.size], c.src)
	if err != nil {
		return nil, fmt.Errorf("inflate %s: %w", p.entries[s.i].hash, err)
	}
	_, size, _, err := deltaSizes(delta)
	if err != nil {
		return nil, fmt.Errorf("apply delta %s: %w", p.entries[s.i].hash, err)
	}
	return patchInto(c.bufs.get(int(min(size, maxPrealloc))), base, delta, p.entries[s.i].hash)
}

// remember makes data, the base of step s's entry, the memo; the previous memo's buffer is
// recycled.
func (c *chainReader) remember(p *pack, s chainStep, typ plumbing.ObjectType, data []byte) {
	bi, ok := p.baseOf(s.i, s.h)
	if !ok || sameBuffer(data, c.memo.data) {
		return
	}
	old := c.memo.data
	c.memo = chainMemo{p: p, i: bi, typ: typ, data: data}
	c.bufs.put(old)
}

// release gives a buffer object returned back, unless it is the memo.
func (c *chainReader) release(b []byte) {
	if !sameBuffer(b, c.memo.data) {
		c.bufs.put(b)
	}
}

func sameBuffer(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:1][0] == &b[:1][0]
}
