/*
 * Beam's Flink job server stages its whole classpath (~150 MB, 160 jars)
 * with every job it submits: Flink stores and ships that to the TaskManager
 * per job, about 12 s of each job on two cores. The local cluster started
 * by `noisy-rnn flink start` has the same jars on its own classpath, so its
 * jobs stage none: Beam's option
 * --pipeline_resources_detector_factory_class=noisyrnn.StageNothing.
 * Compiled with the JDK's javac when the job server is set up
 * (noisy_rnn.pipeline.ops.flink_cluster.stage_nothing_jar).
 */
package noisyrnn;

import java.util.Collections;
import java.util.List;
import org.apache.beam.sdk.util.construction.resources.PipelineResourcesDetector;

/** A detector of the resources to stage with a job that finds none. */
public class StageNothing implements PipelineResourcesDetector.Factory {

  /** Beam creates option factories through a static create(). */
  public static StageNothing create() {
    return new StageNothing();
  }

  @Override
  public PipelineResourcesDetector getPipelineResourcesDetector() {
    return new Nothing();
  }

  static class Nothing implements PipelineResourcesDetector {
    @Override
    public List<String> detect(ClassLoader classLoader) {
      return Collections.emptyList();
    }
  }
}
