package pgembed

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTemplateBuiltOnceAndRebuiltWhenIncomplete(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	binDir, err := FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	major, err := serverMajorVersion(ctx, binDir)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := resolveRunAs()
	if err != nil {
		t.Fatal(err)
	}
	root := testBaseDir(t) // a private template cache
	var logs logBuffer
	log := newTestLogger(&logs)

	const n = 3
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = copyFromTemplate(ctx, root, binDir, major, ra, filepath.Join(root, "copy"+string(rune('a'+i))), log)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("copyFromTemplate: %v", err)
		}
	}
	if got := strings.Count(logs.String(), "built template"); got != 1 {
		t.Fatalf("template built %d times, want 1:\n%s", got, logs.String())
	}
	tdir := templateDir(root, major, ra.uid)
	for i := range n {
		dst := filepath.Join(root, "copy"+string(rune('a'+i)))
		ver, err := os.ReadFile(filepath.Join(dst, "PG_VERSION"))
		if err != nil || strings.TrimSpace(string(ver)) != major {
			t.Fatalf("copy %s: PG_VERSION %q, %v", dst, ver, err)
		}
		fi, err := os.Stat(dst)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("copy %s: mode %v, %v; want 0700", dst, fi.Mode().Perm(), err)
		}
	}

	// An interrupted build leaves no marker: the next user rebuilds.
	if err := os.Remove(filepath.Join(tdir, templateMarker)); err != nil {
		t.Fatal(err)
	}
	if templateValid(tdir, major) {
		t.Fatal("template without marker counts as valid")
	}
	if err := copyFromTemplate(ctx, root, binDir, major, ra, filepath.Join(root, "copyz"), log); err != nil {
		t.Fatalf("copyFromTemplate after damage: %v", err)
	}
	if got := strings.Count(logs.String(), "built template"); got != 2 {
		t.Fatalf("damaged template not rebuilt (%d builds)", got)
	}
	if !templateValid(tdir, major) {
		t.Fatal("rebuilt template is not valid")
	}
	if templateValid(tdir, major+"0") {
		t.Fatal("template valid for the wrong major version")
	}
}
