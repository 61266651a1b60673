package bufpool

import "testing"

func TestGetPut(t *testing.T) {
	b := Get(100)
	if len(*b) != 100 {
		t.Fatalf("Get(100) has %d bytes", len(*b))
	}
	Put(b)
	if c := Get(200); len(*c) != 200 {
		t.Fatalf("Get(200) has %d bytes", len(*c))
	}
	// A buffer of a size never asked for is dropped, not pooled.
	odd := make([]byte, 12345)
	Put(&odd)
	if c := Get(100); len(*c) != 100 {
		t.Fatalf("Get(100) after Put of another size has %d bytes", len(*c))
	}
}

func TestManySizes(t *testing.T) {
	// More sizes than the scan holds: each still comes back at its size,
	// and a buffer given back is the one taken again.
	for size := 1; size <= 3*len(recent); size++ {
		b := Get(size)
		if len(*b) != size {
			t.Fatalf("Get(%d) has %d bytes", size, len(*b))
		}
		Put(b)
	}
	for size := 1; size <= 3*len(recent); size++ {
		if p := poolOf(size, false); p == nil || p.size != size {
			t.Fatalf("size %d: pool %+v", size, p)
		}
	}
}
