package postgres

import (
	"encoding/json"
	"fmt"
)

// jsonHeaders scans a nullable jsonb-as-text column into a header map.
type jsonHeaders struct{ m *map[string]string }

func (h jsonHeaders) Scan(src any) error {
	*h.m = nil
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		return json.Unmarshal([]byte(v), h.m)
	case []byte:
		return json.Unmarshal(v, h.m)
	default:
		return fmt.Errorf("headers: unexpected %T", src)
	}
}
