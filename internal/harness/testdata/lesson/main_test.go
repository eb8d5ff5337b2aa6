package lesson_test

import (
	"testing"

	"github.com/grpc-workbook/streaming/internal/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
