package openstack

import (
	"fmt"
	"testing"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/fakeopenstack"
)

// BenchmarkAttachOneVolumeTo16Servers runs the module against the fake with
// a fixed latency per attach and reports how close the wall time comes to
// the sum of those latencies (attaches cannot overlap: Cinder reserves one
// at a time) and how many API requests the module makes per server. The
// volume exists beforehand; authentication and look-ups are included.
func BenchmarkAttachOneVolumeTo16Servers(b *testing.B) {
	const n = 16
	const latency = 200 * time.Millisecond
	var servers []fakeopenstack.Server
	var names []any
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("bench-%02d", i)
		servers = append(servers, fakeopenstack.Server{Name: name})
		names = append(names, name)
	}
	var ratio, requests float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cfg := fastConfig(servers...)
		cfg.AttachLatency = latency
		e := newEnv(b, cfg)
		mustSucceed(b, e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach")))
		e.cloud.ResetRequests()
		b.StartTimer()

		start := time.Now()
		out := e.run(args("volume", "shared", "servers", names))
		wall := time.Since(start)

		b.StopTimer()
		mustSucceed(b, out)
		if got := len(e.attachedNames("shared")); got != n {
			b.Fatalf("%d servers attached, want %d", got, n)
		}
		ratio += wall.Seconds() / (n * latency).Seconds()
		requests += float64(len(e.cloud.Requests())) / n
		b.StartTimer()
	}
	b.ReportMetric(ratio/float64(b.N), "wall/latency")
	b.ReportMetric(requests/float64(b.N), "requests/server")
}
