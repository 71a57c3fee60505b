package checkpoint

import (
	"context"
	"slices"
)

// BlockedKeysOf implements Store.
func (s *MemoryStore) BlockedKeysOf(ctx context.Context, sub string, partition int, keys []string) (map[string]BlockedKey, error) {
	all, err := s.BlockedKeys(ctx, sub, partition)
	if err != nil {
		return nil, err
	}
	out := make(map[string]BlockedKey, len(keys))
	for _, k := range keys {
		if b, ok := all[k]; ok {
			out[k] = b
		}
	}
	return out, nil
}

// RetryRequests implements Store.
func (s *MemoryStore) RetryRequests(ctx context.Context, sub string) (map[int][]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int][]string{}
	m, err := s.get(sub)
	if err != nil {
		return out, nil
	}
	for _, d := range m.dls {
		if d.RetryRequested && !slices.Contains(out[d.Partition], d.Key) {
			out[d.Partition] = append(out[d.Partition], d.Key)
		}
	}
	return out, nil
}
