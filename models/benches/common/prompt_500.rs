/// A realistic 500-character prompt (an MMLU-style question with options).
fn prompt_500() -> String {
    let base = "The following is a multiple choice question about college physics. \
        A uniform solid sphere of mass 2.0 kg and radius 0.10 m rolls without slipping down \
        an incline of height 1.5 m, starting from rest. What is its translational speed at the \
        bottom of the incline? Assume g = 9.8 m/s^2 and neglect air resistance.\n\
        A. 3.2 m/s\nB. 4.6 m/s\nC. 5.4 m/s\nD. 6.1 m/s\nAnswer with the letter of the correct \
        option and explain your reasoning briefly, step by step please.";
    let mut s: String = base.chars().cycle().take(500).collect();
    s.truncate(500);
    s
}
