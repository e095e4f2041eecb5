package lab_test

import (
	"os"
	"testing"

	"github.com/natkit/natkit/lab/labtest"
)

func TestMain(m *testing.M) {
	check := labtest.CheckNoLeftovers()
	os.Exit(check(m.Run()))
}
