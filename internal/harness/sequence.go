package harness

import (
	"fmt"
	"strings"
	"testing"
)

// AssertEachOnceInOrder checks that got, the sequence numbers who received,
// is exactly first, first+1, ..., last, and otherwise fails the test naming
// who and the numbers missing, duplicated, out of order and outside the
// range: the report a test of resuming, retrying or failing over needs, when
// "want 300 numbers, got 299" would say nothing about which one went where.
func AssertEachOnceInOrder(t testing.TB, who string, first, last int, got []int) bool {
	t.Helper()
	track(t)
	seen := map[int]int{}
	for _, seq := range got {
		seen[seq]++
	}
	var missing, duplicated, disorder, outside []string
	for seq := first; seq <= last; seq++ {
		switch k := seen[seq]; {
		case k == 0:
			missing = append(missing, fmt.Sprint(seq))
		case k > 1:
			duplicated = append(duplicated, fmt.Sprintf("%d (%d times)", seq, k))
		}
	}
	for i, seq := range got {
		if seq < first || seq > last {
			outside = append(outside, fmt.Sprint(seq))
		}
		if i > 0 && seq <= got[i-1] {
			disorder = append(disorder, fmt.Sprintf("%d after %d", seq, got[i-1]))
		}
	}
	var problems []string
	for _, p := range []struct {
		what string
		list []string
	}{{"missing", missing}, {"duplicated", duplicated}, {"out of order", disorder}, {"outside the range", outside}} {
		if len(p.list) > 0 {
			problems = append(problems, fmt.Sprintf("  %s: %s", p.what, Shorten(p.list)))
		}
	}
	if len(problems) == 0 {
		return true
	}
	t.Errorf("%s: %d numbers; want each of %d to %d exactly once, in order:\n%s",
		who, len(got), first, last, strings.Join(problems, "\n"))
	return false
}

// Shorten joins list with commas, the first 20 only when it is longer.
func Shorten(list []string) string {
	if len(list) > 20 {
		return strings.Join(list[:20], ", ") + fmt.Sprintf(", ... (%d in all)", len(list))
	}
	return strings.Join(list, ", ")
}
