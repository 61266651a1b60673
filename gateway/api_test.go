package gateway

import "testing"

// EndpointOf names the endpoint a served path reaches, and nothing for
// any other path.
func TestEndpointOf(t *testing.T) {
	e := newEnv(t, "local")
	for path, want := range map[string]string{
		"/native.Values/Echo": "Values.Echo",
		"/native.Values/Nope": "",
		"/v1/endpoints":       "",
		"native.Values/Echo":  "",
	} {
		if got, ok := e.gw.EndpointOf(path); got != want || ok != (want != "") {
			t.Errorf("EndpointOf(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
}
