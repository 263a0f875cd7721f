import { env, pipeline, RawImage } from "@huggingface/transformers";

/** Embed image files with a student's ONNX export (a `student-onnx/` folder) in transformers.js. */
export async function embedImages(exportDir, imagePaths) {
  env.allowRemoteModels = false; // a local folder, not a Hub model
  env.localModelPath = exportDir.replace(/[^/]+\/?$/, ""); // the folder that holds it
  const name = exportDir.replace(/\/$/, "").split("/").pop();
  const extract = await pipeline("image-feature-extraction", name, { dtype: "fp32" });
  const grey = extract.model.config.num_channels === 1;
  const images = await Promise.all(imagePaths.map(async (path) => {
    const image = await RawImage.read(path); // resized, scaled and normalised by the pipeline
    return grey ? image.grayscale() : image.rgb();
  }));
  const features = await extract(images); // a Tensor [images, featureDim]: the student's embeddings
  await extract.dispose();
  return features;
}
