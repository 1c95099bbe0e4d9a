// The OpenTelemetry side of the service: the Node SDK with spans printed to the console and
// metrics served to Prometheus, then @stowage/otel on top. Everything a real service would point
// at a collector instead (an OTLP exporter in place of the console one) stays in this file.
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { NodeSDK, tracing } from '@opentelemetry/sdk-node';
import { instrumentStowage } from '@stowage/otel';

/** Where the telemetry goes. */
export interface TelemetryOptions {
  /** `service.name` on every span and metric. */
  readonly serviceName: string;
  /** Interface of the Prometheus endpoint. */
  readonly metricsHost: string;
  /** Port of the Prometheus endpoint (`/metrics`); 9464 is the exporter's usual one. */
  readonly metricsPort: number;
  /** The cache server, for `server.address` / `server.port` on remote backends' spans. */
  readonly cacheServer?: { readonly address: string; readonly port: number | undefined };
}

/** What {@link startTelemetry} started, to stop in order on shutdown. */
export interface Telemetry {
  /** The Prometheus endpoint's URL. */
  readonly metricsUrl: string;
  /** Unsubscribes from Stowage's channels, then flushes and stops the SDK. */
  shutdown(): Promise<void>;
}

/**
 * Starts the SDK and @stowage/otel. Call it before the first cache call: calls made earlier are
 * not traced, and @stowage/otel reads the global meter provider once, when it installs.
 */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  // Started below, once we know it can bind, so a taken port fails the start instead of logging.
  const prometheus = new PrometheusExporter({
    host: options.metricsHost,
    port: options.metricsPort,
    preventServerStart: true,
  });
  const sdk = new NodeSDK({
    serviceName: options.serviceName,
    // A simple processor prints each span when it ends; the default batch processor would print
    // them every five seconds, which reads badly next to the requests that caused them.
    spanProcessors: [new tracing.SimpleSpanProcessor(new tracing.ConsoleSpanExporter())],
    metricReaders: [prometheus],
    // The host, OS and process detectors add a dozen attributes to every printed span; a real
    // service keeps them (they are how a backend tells instances apart).
    resourceDetectors: [],
  });
  // Registers the global tracer and meter providers that instrumentStowage() picks up below.
  sdk.start();
  await prometheus.startServer();
  const stowage = instrumentStowage({
    serverAddress: options.cacheServer?.address,
    serverPort: options.cacheServer?.port,
  });
  return {
    metricsUrl: `http://${options.metricsHost}:${options.metricsPort}/metrics`,
    async shutdown() {
      stowage.uninstall();
      await sdk.shutdown();
    },
  };
}
