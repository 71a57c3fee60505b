//go:build !linux

package pgembed

import (
	"errors"
	"log/slog"
	"syscall"
)

// Without Linux's Pdeathsig an orphaned postmaster is only cleaned up by the
// stale-directory sweep of the next Start.
func setParentDeathSignal(*syscall.SysProcAttr) {}

func processStartTime(int) (string, error) {
	return "", errors.New("pgembed: process start time not supported on this OS")
}

func isZombie(int) bool { return false }

func childPIDs(int) []int { return nil }

func isPostgresProcess(int) bool { return true }

// cleanupIPC is not implemented here: a SIGKILLed postmaster's small System
// V segment is left for the administrator (ipcs/ipcrm).
func cleanupIPC(string, *slog.Logger) {}
