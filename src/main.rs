fn main() {
    print!("{}", gonogo::api::crds_yaml().expect("crds serialize"));
}
