package runquery

// Key is one record's values for an ordering, looked up once: sorting n
// records then costs n lookups instead of n log n.
type Key []keyValue

type keyValue struct {
	v  any
	ok bool
}

// KeyOf looks up the values that terms order by.
func KeyOf(r Record, terms []OrderTerm) Key {
	k := make(Key, len(terms))
	for i, t := range terms {
		k[i].v, k[i].ok = value(r, t)
	}
	return k
}

// CompareKeys orders two keys made with the same terms as Compare orders
// their records.
func CompareKeys(a, b Key, terms []OrderTerm) int {
	for i, t := range terms {
		var c int
		switch {
		case !a[i].ok && !b[i].ok:
			continue
		case !a[i].ok:
			return 1
		case !b[i].ok:
			return -1
		default:
			c = compareValues(a[i].v, b[i].v)
		}
		if t.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
