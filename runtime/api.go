package runtime

import "net/http"

// apiHandler serves the management API (placeholder).
func (r *Runtime) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", r.tel.metricsHandler())
	return mux
}
