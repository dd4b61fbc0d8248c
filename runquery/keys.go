package runquery

// Key is one record's values for an ordering, looked up once: sorting n
// records then costs n lookups instead of n log n.
type Key []KeyValue

// KeyValue is one term's value of a record: a float64 or a string, or
// missing (OK false).
type KeyValue struct {
	V  any
	OK bool
}

// KeyOf looks up the values that terms order by.
func KeyOf(r Record, terms []OrderTerm) Key {
	k := make(Key, len(terms))
	for i, t := range terms {
		k[i].V, k[i].OK = value(r, t)
	}
	return k
}

// CompareKeys orders two keys made with the same terms as Compare orders
// their records.
func CompareKeys(a, b Key, terms []OrderTerm) int {
	for i, t := range terms {
		if c := compareTerm(t, a[i].V, a[i].OK, b[i].V, b[i].OK); c != 0 {
			return c
		}
	}
	return 0
}
