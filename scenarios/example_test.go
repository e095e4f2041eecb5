package scenarios_test

import (
	"context"
	"fmt"

	"github.com/natkit/natkit/scenarios"
)

// Run a scenario from your own tests and assert on the result.
func ExampleRun() {
	spec, err := scenarios.Parse("my-test.yaml", []byte(`
name: my-app-behind-home-routers
topology:
  a: {nat: port-restricted-cone}
  b: {nat: full-cone}
ice: {timeouts: fast}
steps:
  - connect: {}
  - wait_connected: {timeout: 10s}
  - send: {messages: 5}
  - hangup: {}
expect:
  connected: true
  path: direct
  delivered: 100
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := scenarios.Run(context.Background(), spec, scenarios.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("passed:", res.Passed())
	fmt.Println("direct:", res.Call.Path.Direct())
	fmt.Println("echoed:", res.Call.Messages.Received, "of", res.Call.Messages.Sent)
	// Output:
	// passed: true
	// direct: true
	// echoed: 5 of 5
}
