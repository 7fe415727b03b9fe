package gitrepo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
)

// fixedValue is what a spillMap can hold: values of one fixed size, so that a map on disk is an
// array of equal slots.
type fixedValue interface {
	uint64 | plumbing.Hash | struct{}
}

// spillMap maps object hashes to fixed-size values: a Go map while its entries fit the load's
// memory budget, then a hash table in a temporary file (open addressing, linear probing, read
// and written with positioned reads and writes, so the kernel's page cache is its cache and the
// process holds nothing per entry). It is how the per-object indexes of a scan or purge (a
// table's positions, the purge's old-to-new maps, what the new history keeps) stop growing
// with the repository beyond the cache the user set.
//
// Like a Go map: reads are safe for concurrent use with each other, a write is not safe with
// anything. A failed read or write of the file is kept (err) and makes reads answer "absent":
// callers check err before acting on what the map said.
type spillMap[V fixedValue] struct {
	mem     map[plumbing.Hash]V
	budget  *budget
	charged int64
	dir     string
	hint    int // how many entries the map may reach (sizes the file)

	disk *diskMap
	// recent caches lookups of the map on disk, hits and misses, by the hash's low bits: a
	// history walk asks for the same subtrees commit after commit. It holds what the map held
	// in memory before it moved, up to maxRecent entries (at least minRecent).
	recentMu sync.Mutex
	recent   []recentEntry[V]

	errMu    sync.Mutex
	firstErr error
}

// recentEntry is one slot of a spillMap's cache: h and its value, or that h is absent.
type recentEntry[V fixedValue] struct {
	h     plumbing.Hash
	v     V
	state uint8 // 0: empty; recentHit: h maps to v; recentMiss: h is not in the map
}

const (
	recentHit  = 1
	recentMiss = 2
	minRecent  = 1 << 12
	maxRecent  = 1 << 16
)

// Bytes charged to the budget per entry kept in a Go map: key and value, the map's control
// byte, its load factor (at most 7/8, and half that just after it doubles) and the old array
// it copies from while growing.
const spillMapOverhead = 24

func newSpillMap[V fixedValue](b *budget, dir string, hint int) *spillMap[V] {
	return &spillMap[V]{mem: map[plumbing.Hash]V{}, budget: b, dir: dir, hint: hint}
}

func valueSize[V fixedValue]() int {
	var v V
	switch any(v).(type) {
	case uint64:
		return 8
	case plumbing.Hash:
		return len(plumbing.ZeroHash)
	default:
		return 0
	}
}

func (m *spillMap[V]) entryCost() int64 {
	return int64(len(plumbing.ZeroHash) + valueSize[V]() + spillMapOverhead)
}

func (m *spillMap[V]) fail(err error) {
	m.errMu.Lock()
	if m.firstErr == nil {
		m.firstErr = fmt.Errorf("object index on disk: %w", err)
	}
	m.errMu.Unlock()
}

// err is the first failure to read or write the map's file.
func (m *spillMap[V]) err() error {
	m.errMu.Lock()
	defer m.errMu.Unlock()
	return m.firstErr
}

func (m *spillMap[V]) len() int {
	if m.disk != nil {
		return m.disk.n
	}
	return len(m.mem)
}

// onDisk reports whether the map has moved to its file.
func (m *spillMap[V]) onDisk() bool { return m.disk != nil }

func (m *spillMap[V]) get(h plumbing.Hash) (V, bool) {
	var zero V
	if m.disk == nil {
		v, ok := m.mem[h]
		return v, ok
	}
	slot := &m.recent[recentIndex(h, len(m.recent))]
	m.recentMu.Lock()
	r := *slot
	m.recentMu.Unlock()
	if r.state != 0 && r.h == h {
		return r.v, r.state == recentHit
	}
	var buf [diskWindow * diskMaxSlot]byte
	_, found, err := m.disk.find(h, buf[:])
	if err != nil {
		m.fail(err)
		return zero, false
	}
	r = recentEntry[V]{h: h, state: recentMiss}
	if found != nil {
		r.v, r.state = decodeValue[V](found[1+len(h):]), recentHit
	}
	m.recentMu.Lock()
	*slot = r
	m.recentMu.Unlock()
	return r.v, r.state == recentHit
}

func recentIndex(h plumbing.Hash, n int) int {
	return int(binary.LittleEndian.Uint32(h[len(h)-4:])) & (n - 1)
}

func (m *spillMap[V]) has(h plumbing.Hash) bool {
	_, ok := m.get(h)
	return ok
}

// set adds h or replaces its value.
func (m *spillMap[V]) set(h plumbing.Hash, v V) {
	if m.disk == nil {
		if _, ok := m.mem[h]; ok {
			m.mem[h] = v
			return
		}
		if cost := m.entryCost(); m.budget.take(cost) {
			m.charged += cost
			m.mem[h] = v
			return
		}
		if err := m.toDisk(); err != nil {
			m.fail(err)
			return
		}
	}
	r := recentEntry[V]{h: h, v: v, state: recentHit}
	if err := m.disk.put(h, encodeValue(v)); err != nil {
		m.fail(err)
		r = recentEntry[V]{}
	}
	m.recent[recentIndex(h, len(m.recent))] = r // writes exclude reads: no lock needed
}

// toDisk moves every entry to a file sized for the hint (or twice the entries) and gives the
// memory back to the budget.
func (m *spillMap[V]) toDisk() error {
	d, err := newDiskMap(m.dir, len(plumbing.ZeroHash)+valueSize[V](), max(m.hint, 2*len(m.mem)+1))
	if err != nil {
		return err
	}
	for h, v := range m.mem {
		if err := d.put(h, encodeValue(v)); err != nil {
			d.close()
			return err
		}
	}
	// The cache keeps what the map held in memory (within bounds); the rest goes back.
	entry := int64(hashSize + valueSize[V]() + 8) // and the state, padded
	slots := minRecent
	for slots < maxRecent && int64(2*slots)*entry <= m.charged {
		slots *= 2
	}
	m.recent = make([]recentEntry[V], slots)
	m.disk, m.mem = d, nil
	keep := min(m.charged, int64(slots)*entry)
	m.budget.give(m.charged - keep)
	m.charged = keep
	return nil
}

// each calls f for every entry until f returns an error; order is unspecified.
func (m *spillMap[V]) each(f func(h plumbing.Hash, v V) error) error {
	if m.disk == nil {
		for h, v := range m.mem {
			if err := f(h, v); err != nil {
				return err
			}
		}
		return nil
	}
	return m.disk.each(func(slot []byte) error {
		return f(plumbing.Hash(slot[1:1+len(plumbing.ZeroHash)]), decodeValue[V](slot[1+len(plumbing.ZeroHash):]))
	})
}

// close removes the file and gives the memory back.
func (m *spillMap[V]) close() {
	if m.disk != nil {
		m.disk.close()
		m.disk = nil
	}
	m.budget.give(m.charged)
	m.charged, m.mem, m.recent = 0, map[plumbing.Hash]V{}, nil
}

func encodeValue[V fixedValue](v V) []byte {
	switch x := any(v).(type) {
	case uint64:
		return binary.LittleEndian.AppendUint64(nil, x)
	case plumbing.Hash:
		return x[:]
	default:
		return nil
	}
}

func decodeValue[V fixedValue](b []byte) V {
	var v V
	switch any(v).(type) {
	case uint64:
		return any(binary.LittleEndian.Uint64(b)).(V)
	case plumbing.Hash:
		return any(plumbing.Hash(b)).(V)
	default:
		return v
	}
}

// diskMap is an open-addressing hash table in a file: slots of a used byte, the key and the
// value, at a load of at most half, so that a lookup reads one window of slots.
type diskMap struct {
	dir  string
	f    *os.File
	slot int   // 1 + key + value
	mask int64 // slots - 1 (a power of two)
	n    int
}

const (
	diskWindow  = 8                                // slots read at once
	diskMaxSlot = 1 + 2*len(plumbing.ZeroHash) + 8 // a bound on slot sizes, for stack buffers
)

func newDiskMap(dir string, kv, entries int) (*diskMap, error) {
	slots := int64(1) << bits.Len64(uint64(2*max(entries, diskWindow)-1))
	f, err := tempFile(dir, "respond-index-*")
	if err != nil {
		return nil, err
	}
	d := &diskMap{dir: dir, f: f, slot: 1 + kv, mask: slots - 1}
	if err := f.Truncate(slots * int64(d.slot)); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *diskMap) home(h plumbing.Hash) int64 {
	return int64(binary.BigEndian.Uint64(h[:8])) & d.mask
}

// find looks h up, reading windows of slots into buf from h's home slot on. It returns the slot
// index where h is or would go, and h's slot (nil when absent).
func (d *diskMap) find(h plumbing.Hash, buf []byte) (int64, []byte, error) {
	i := d.home(h)
	for probed := int64(0); probed <= d.mask; {
		w := min(int64(diskWindow), d.mask+1-i) // a window does not wrap
		b := buf[:w*int64(d.slot)]
		if _, err := d.f.ReadAt(b, i*int64(d.slot)); err != nil {
			return 0, nil, err
		}
		for k := int64(0); k < w; k++ {
			s := b[k*int64(d.slot) : (k+1)*int64(d.slot)]
			if s[0] == 0 {
				return i + k, nil, nil
			}
			if plumbing.Hash(s[1:1+len(h)]) == h {
				return i + k, s, nil
			}
		}
		probed += w
		i = (i + w) & d.mask
	}
	return 0, nil, errors.New("index full")
}

// put adds h with value v, or replaces its value; the table doubles beyond half full.
func (d *diskMap) put(h plumbing.Hash, v []byte) error {
	if int64(d.n+1) > (d.mask+1)/2 {
		if err := d.grow(); err != nil {
			return err
		}
	}
	var buf [diskWindow * diskMaxSlot]byte
	i, s, err := d.find(h, buf[:])
	if err != nil {
		return err
	}
	var slot [diskMaxSlot]byte
	slot[0] = 1
	copy(slot[1:], h[:])
	copy(slot[1+len(h):], v)
	if _, err := d.f.WriteAt(slot[:d.slot], i*int64(d.slot)); err != nil {
		return err
	}
	if s == nil {
		d.n++
	}
	return nil
}

// grow moves every entry to a table twice the size, in a new file.
func (d *diskMap) grow() error {
	bigger, err := newDiskMap(d.dir, d.slot-1, int(d.mask+1))
	if err != nil {
		return err
	}
	err = d.each(func(s []byte) error {
		return bigger.put(plumbing.Hash(s[1:1+len(plumbing.ZeroHash)]), s[1+len(plumbing.ZeroHash):])
	})
	if err != nil {
		bigger.close()
		return err
	}
	d.close() // removes the smaller file where it could not be unlinked at creation
	*d = *bigger
	return nil
}

// each calls f for every used slot, reading the file in large blocks. f must not keep the slot.
func (d *diskMap) each(f func(slot []byte) error) error {
	buf := make([]byte, (256<<10)/d.slot*d.slot)
	size := (d.mask + 1) * int64(d.slot)
	for off := int64(0); off < size; off += int64(len(buf)) {
		b := buf[:min(int64(len(buf)), size-off)]
		if _, err := d.f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		for k := 0; k+d.slot <= len(b); k += d.slot {
			if s := b[k : k+d.slot]; s[0] != 0 {
				if err := f(s); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (d *diskMap) close() {
	if d.f != nil {
		d.f.Close()
		_ = os.Remove(d.f.Name())
		d.f = nil
	}
}
