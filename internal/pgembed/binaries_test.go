package pgembed

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func stubBinaries(t *testing.T, dir string, names ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFindBinariesInMissing(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	onlyInitdb := filepath.Join(root, "half")
	stubBinaries(t, onlyInitdb, "initdb")
	_, err := findBinariesIn(onlyInitdb+string(os.PathListSeparator)+filepath.Join(root, "nope"), []string{filepath.Join(root, "lib", "*", "bin")})
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("err = %v, want ErrNoBinaries", err)
	}
	for _, hint := range []string{"apt-get install -y postgresql", "brew install postgresql", "DATABASE_URL"} {
		if !strings.Contains(err.Error(), hint) {
			t.Errorf("error %q lacks hint %q", err, hint)
		}
	}
}

func TestFindBinariesInPath(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	stubBinaries(t, bin, "initdb", "postgres")
	got, err := findBinariesIn(filepath.Join(root, "empty")+string(os.PathListSeparator)+bin, nil)
	if err != nil || got != bin {
		t.Fatalf("findBinariesIn = %q, %v; want %q", got, err, bin)
	}
}

func TestFindBinariesInPgConfig(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	server := filepath.Join(root, "server", "bin")
	stubBinaries(t, server, "initdb", "postgres")
	pathDir := filepath.Join(root, "path")
	if err := os.MkdirAll(pathDir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\n[ \"$1\" = --bindir ] && echo '" + server + "'\n"
	if err := os.WriteFile(filepath.Join(pathDir, "pg_config"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := findBinariesIn(pathDir, nil)
	if err != nil || got != server {
		t.Fatalf("findBinariesIn = %q, %v; want %q", got, err, server)
	}
}

func TestFindBinariesInNewestCandidate(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, v := range []string{"9.6", "10", "15", "16"} {
		names := []string{"initdb", "postgres"}
		if v == "16" {
			names = []string{"postgres"} // incomplete: client-only install
		}
		stubBinaries(t, filepath.Join(root, "lib", v, "bin"), names...)
	}
	want := filepath.Join(root, "lib", "15", "bin")
	got, err := findBinariesIn("", []string{filepath.Join(root, "lib", "*", "bin")})
	if err != nil || got != want {
		t.Fatalf("findBinariesIn = %q, %v; want %q", got, err, want)
	}
}

func TestFindBinariesOnThisMachine(t *testing.T) {
	t.Parallel()
	dir, err := FindBinaries()
	if err != nil {
		t.Fatalf("FindBinaries: %v", err) // the suite needs them anyway
	}
	if !hasServerBinaries(dir) {
		t.Fatalf("FindBinaries = %q without initdb and postgres", dir)
	}
}

func TestParseMajorVersion(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n": "15",
		"postgres (PostgreSQL) 17beta1":                          "17",
		"postgres (PostgreSQL) 9.6.24":                           "9.6",
		"postgres (PostgreSQL) 16.4":                             "16",
	} {
		got, err := parseMajorVersion(in)
		if err != nil || got != want {
			t.Errorf("parseMajorVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := parseMajorVersion("garbage"); err == nil {
		t.Error("parseMajorVersion(garbage) succeeded")
	}
}
