package k8s

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// docSeparator separates the documents of a multi-document YAML stream.
const docSeparator = "---\n"

// Encode writes objs as one multi-document YAML stream, in order, for
// `kubectl apply -f`.
func Encode(objs []Object) ([]byte, error) {
	var buf bytes.Buffer
	for _, o := range objs {
		data, err := yaml.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("encoding %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
		buf.WriteString(docSeparator)
		buf.Write(data)
	}
	return buf.Bytes(), nil
}

// docStart is a separator line: at column 0, where no block scalar's
// indented text (a PEM's "-----END …-----") can be.
var docStart = regexp.MustCompile(`(?m)^---$`)

// Decode reads a stream Encode wrote back into typed objects. A kind it
// does not know, or a field the kind lacks, is an error naming the
// document.
func Decode(data []byte) ([]Object, error) {
	var out []Object
	for i, doc := range docStart.Split(string(data), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("document %d: reading its kind: %w", i, err)
		}
		o, err := newObject(tm)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), o); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, tm.Kind, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// newObject is an empty object of the kind Build makes.
func newObject(tm metav1.TypeMeta) (Object, error) {
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Namespace":
		return &corev1.Namespace{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 Secret":
		return &corev1.Secret{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "batch/v1 Job":
		return &batchv1.Job{}, nil
	}
	return nil, fmt.Errorf("kind %q of %q: not one Build makes", tm.Kind, tm.APIVersion)
}
