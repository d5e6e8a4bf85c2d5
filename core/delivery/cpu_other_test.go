//go:build !unix

package delivery_test

import "time"

// processCPU is not measured here; the benchmark reports no CPU metric.
func processCPU() time.Duration { return 0 }
