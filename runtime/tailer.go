package runtime

import (
	"log/slog"

	"github.com/causewayhq/causeway/eventlog"
)

func pgTailerOptions(logger *slog.Logger) eventlog.TailerOptions {
	return eventlog.TailerOptions{Logger: logger}
}
