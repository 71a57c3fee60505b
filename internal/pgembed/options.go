package pgembed

import (
	"fmt"
	"log/slog"
	"strconv"
)

// Options configures Start. The zero value is a fast, non-durable cluster
// on a free loopback port under os.TempDir().
type Options struct {
	// BaseDir is the parent of the cluster's temporary directory; default
	// os.TempDir(). When running as root it and its ancestors must be
	// searchable by the postgres OS user.
	BaseDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one (and retries
	// with another if a parallel process grabs it first).
	Port int
	// Durable keeps PostgreSQL's crash-safety settings. When false (the
	// default) the cluster runs with fsync=off, synchronous_commit=off and
	// full_page_writes=off: data survives Stop/Restart, but a Crash may
	// lose the last few hundred milliseconds of acknowledged commits (the
	// WAL writer had not written them yet). Add
	// Settings["synchronous_commit"]="on" to make every acknowledged commit
	// survive Crash while keeping fsync off (only an OS crash, which Crash
	// does not simulate, could then lose data).
	Durable bool
	// Settings are extra postgresql.conf parameters passed as -c key=value;
	// they override pgembed's defaults (max_connections=200,
	// shared_buffers=128MB, dynamic_shared_memory_type=mmap and the
	// non-durable settings above).
	// listen_addresses, port and unix_socket_directories are managed by
	// pgembed and may not be set here.
	Settings map[string]string
	// Logger receives pgembed's own diagnostics; default discards them.
	// The server's log goes to postgres.log in the cluster directory.
	Logger *slog.Logger
}

var reservedSettings = []string{"listen_addresses", "port", "unix_socket_directories", "data_directory"}

// serverSettings merges pgembed's defaults with opts.Settings.
func serverSettings(opts Options) (map[string]string, error) {
	s := map[string]string{
		"max_connections": strconv.Itoa(200),
		"shared_buffers":  "128MB",
		// Dynamic shared memory in files under the data dir, not /dev/shm:
		// a SIGKILLed server's segments then go away with the directory.
		"dynamic_shared_memory_type": "mmap",
	}
	if !opts.Durable {
		s["fsync"] = "off"
		s["synchronous_commit"] = "off"
		s["full_page_writes"] = "off"
	}
	for k, v := range opts.Settings {
		for _, r := range reservedSettings {
			if k == r {
				return nil, fmt.Errorf("pgembed: setting %q is managed by pgembed (use Options.Port for the port)", k)
			}
		}
		s[k] = v
	}
	return s, nil
}
