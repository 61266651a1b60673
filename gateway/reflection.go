package gateway

import (
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	gatewayv1 "github.com/framegate/framegate/gen/framegate/gateway/v1"
)

// RegisterServices registers server reflection (v1 and v1alpha, both seeing
// the synthesized services next to the static ones), grpc.health.v1 and the
// gateway's own GatewayService on s. NewGRPCServer calls it; call it
// yourself when you build the grpc.Server with grpc.UnknownServiceHandler(
// g.StreamHandler()) on your own.
func (g *Gateway) RegisterServices(s *grpc.Server) {
	opts := (&reflectionSource{g: g, s: s}).options()
	reflectionv1.RegisterServerReflectionServer(s, reflection.NewServerV1(opts))
	reflectionv1alpha.RegisterServerReflectionServer(s, reflection.NewServer(opts))
	healthpb.RegisterHealthServer(s, g.health)
	gatewayv1.RegisterGatewayServiceServer(s, &apiServer{g: g})
}

// StreamHandler returns the handler to pass to grpc.UnknownServiceHandler.
func (g *Gateway) StreamHandler() grpc.StreamHandler { return g.handleStream }

// reflectionSource lets reflection see the synthesized services: it merges
// the static server's services (without one, those the HTTP face serves:
// webStaticServices) with the current protoSet's, and resolves
// descriptors in the protoSet first, then in the global registry.
type reflectionSource struct {
	g *Gateway
	s *grpc.Server
}

// options are the options of reflection servers that r is the source of.
func (r *reflectionSource) options() reflection.ServerOptions {
	return reflection.ServerOptions{Services: r, DescriptorResolver: r, ExtensionResolver: protoregistry.GlobalTypes}
}

func (r *reflectionSource) GetServiceInfo() map[string]grpc.ServiceInfo {
	var out map[string]grpc.ServiceInfo
	if r.s != nil {
		out = r.s.GetServiceInfo()
	} else {
		out = webStaticServices()
	}
	set := r.g.set.Load()
	for _, name := range set.serviceNames() {
		sd := set.file.Services().ByName(name.Name())
		if sd == nil {
			continue
		}
		info := grpc.ServiceInfo{Metadata: set.file.Path()}
		ms := sd.Methods()
		for i := range ms.Len() {
			md := ms.Get(i)
			info.Methods = append(info.Methods, grpc.MethodInfo{Name: string(md.Name()), IsClientStream: md.IsStreamingClient(), IsServerStream: md.IsStreamingServer()})
		}
		out[string(name)] = info
	}
	return out
}

func (r *reflectionSource) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if fd, err := r.g.set.Load().resolver().FindFileByPath(path); err == nil {
		return fd, nil
	}
	return protoregistry.GlobalFiles.FindFileByPath(path)
}

func (r *reflectionSource) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := r.g.set.Load().resolver().FindDescriptorByName(name); err == nil {
		return d, nil
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}
