package harness

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-workbook/streaming/internal/gotest"
)

// TestTranscript_GoTest_PrintsOnlyForFailingTests runs a real `go test` on
// testdata/failing, where one test fails and one passes, as a learner would.
func TestTranscript_GoTest_PrintsOnlyForFailingTests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	rep, err := gotest.Run(t.Context(), ".", "-count=1", "./testdata/failing")
	require.NoError(t, err)
	out := map[string]string{}
	for _, r := range rep.Tests {
		out[r.Name] = r.Output
	}
	require.Contains(t, out, "TestFailing", "go test output:\n%s", rep.Output)
	inOrder(t, out["TestFailing"],
		`gRPC transcript`,
		`client +→ request +value: ?"Ada"`,
		`server +handler returned status codes.InvalidArgument \("no Ada here"\)`,
		`client +← status +codes.InvalidArgument`,
	)
	assert.NotContains(t, out["TestPassing"], "gRPC transcript")
}
