package sqlwhere

import "testing"

func TestBuilder(t *testing.T) {
	var b Builder
	if b.SQL() != "" || len(b.Args()) != 0 {
		t.Fatal("empty builder")
	}
	b.Add("a = $%d", 1)
	b.Add("b > $%d", "x")
	if got := b.SQL(); got != " WHERE a = $1 AND b > $2" || len(b.Args()) != 2 || b.Args()[1] != "x" {
		t.Fatalf("%q %v", got, b.Args())
	}
}
