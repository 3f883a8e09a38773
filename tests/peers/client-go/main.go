// Command client-go-peer is the peer informer's benchmarks measure against: client-go's
// SharedIndexInformer on pods, as nearly every Kubernetes controller runs it, with an index on
// spec.nodeName. It prints `synced` on stderr once HasSynced is true (the driver then starts
// its writes), and one JSON line on stdout at the end:
//
//	{"objects":N,"sync_seconds":S,"peak_rss_kib":K,"heap_inuse_bytes":B,"heap_per_object":P,
//	 "updates":U,"update_seconds":T,"events_per_second":E,...}
//
// Flags choose the configuration: -protobuf (else JSON), -strip-managed-fields (a transform),
// -two-indexes (a second index, on the app.kubernetes.io/name label), -updates N (wait for N
// MODIFIED events after the sync, counted in an update handler). The
// WatchList streaming initial list is client-go's own feature gate: set
// KUBE_FEATURE_WatchListClient=true or false in the environment.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

type result struct {
	Objects         int     `json:"objects"`
	SyncSeconds     float64 `json:"sync_seconds"`
	PeakRSSKiB      int64   `json:"peak_rss_kib"`
	HeapInuseBytes  uint64  `json:"heap_inuse_bytes"`
	HeapPerObject   uint64  `json:"heap_per_object"`
	Updates         int64   `json:"updates"`
	UpdateSeconds   float64 `json:"update_seconds"`
	EventsPerSecond float64 `json:"events_per_second"`
	Protobuf        bool    `json:"protobuf"`
	StripManaged    bool    `json:"strip_managed_fields"`
	WatchListClient string  `json:"watch_list_client"`
}

// peakRSS reads VmHWM (the peak resident set) of this process, in KiB.
func peakRSS() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			fields := strings.Fields(line)
			if len(fields) >= 2 {
				kib, _ := strconv.ParseInt(fields[1], 10, 64)
				return kib
			}
		}
	}
	return -1
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	namespace := flag.String("namespace", "", "one namespace (default: all)")
	protobuf := flag.Bool("protobuf", false, "ask for protobuf instead of JSON")
	strip := flag.Bool("strip-managed-fields", false, "a transform that drops metadata.managedFields")
	updates := flag.Int64("updates", 0, "after the sync, wait for this many MODIFIED events")
	twoIndexes := flag.Bool("two-indexes", false, "a second index, on the app.kubernetes.io/name label")
	timeout := flag.Duration("timeout", 30*time.Minute, "give up after this long")
	flag.Parse()

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubeconfig %q: %v\n", *kubeconfig, err)
		os.Exit(2)
	}
	config.QPS, config.Burst = 1e6, 1_000_000
	if *protobuf {
		config.ContentType = "application/vnd.kubernetes.protobuf"
		config.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	}
	client := kubernetes.NewForConfigOrDie(config)
	options := []informers.SharedInformerOption{informers.WithNamespace(*namespace)}
	if *strip {
		options = append(options, informers.WithTransform(func(obj interface{}) (interface{}, error) {
			if accessor, err := meta.Accessor(obj); err == nil {
				accessor.SetManagedFields(nil)
			}
			return obj, nil
		}))
	}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, options...)
	pods := factory.Core().V1().Pods().Informer()
	indexers := cache.Indexers{"node": func(obj interface{}) ([]string, error) {
		if pod, ok := obj.(*corev1.Pod); ok {
			return []string{pod.Spec.NodeName}, nil
		}
		return nil, nil
	}}
	if *twoIndexes {
		indexers["app"] = func(obj interface{}) ([]string, error) {
			if pod, ok := obj.(*corev1.Pod); ok {
				if app, found := pod.Labels["app.kubernetes.io/name"]; found {
					return []string{app}, nil
				}
			}
			return nil, nil
		}
	}
	if err := pods.AddIndexers(indexers); err != nil {
		fmt.Fprintf(os.Stderr, "index: %v\n", err)
		os.Exit(1)
	}
	var modified atomic.Int64
	var firstUpdate atomic.Int64
	done := make(chan struct{})
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, _ interface{}) {
			n := modified.Add(1)
			if n == 1 {
				firstUpdate.Store(time.Now().UnixNano())
			}
			if n == *updates {
				close(done)
			}
		},
	}); err != nil {
		fmt.Fprintf(os.Stderr, "handler: %v\n", err)
		os.Exit(1)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start := time.Now()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), pods.HasSynced) {
		fmt.Fprintln(os.Stderr, "the informer did not sync")
		os.Exit(1)
	}
	out := result{
		SyncSeconds:     time.Since(start).Seconds(),
		Objects:         len(pods.GetStore().ListKeys()),
		Protobuf:        *protobuf,
		StripManaged:    *strip,
		WatchListClient: os.Getenv("KUBE_FEATURE_WatchListClient"),
	}
	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	out.HeapInuseBytes = stats.HeapInuse
	if out.Objects > 0 {
		out.HeapPerObject = stats.HeapInuse / uint64(out.Objects)
	}
	fmt.Fprintln(os.Stderr, "synced")

	if *updates > 0 {
		select {
		case <-done:
		case <-ctx.Done():
			fmt.Fprintf(os.Stderr, "only %d of %d updates arrived\n", modified.Load(), *updates)
			os.Exit(1)
		}
		elapsed := time.Since(time.Unix(0, firstUpdate.Load())).Seconds()
		out.Updates, out.UpdateSeconds = *updates, elapsed
		if elapsed > 0 {
			out.EventsPerSecond = float64(*updates) / elapsed
		}
	}
	out.PeakRSSKiB = peakRSS()
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
}
